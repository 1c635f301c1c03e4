using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;

namespace ExecutionDistribution.Security;

/// <summary>Reads the configured public keys (<c>Auth:SigningKeys</c>, PEM).</summary>
internal static class SigningKeyParser
{
    /// <summary>Why <paramref name="pem"/> is not a usable public key, or null when it is.</summary>
    public static string? Problem(string pem)
    {
        try
        {
            _ = Parse(pem);
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            return $"is not an RSA or EC public key in PEM form (-----BEGIN PUBLIC KEY-----): {ex.Message}";
        }
    }

    /// <summary>The key of <paramref name="pem"/>, with its key id (the RFC 7638 thumbprint).</summary>
    public static SecurityKey Parse(string pem)
    {
        SecurityKey key;
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            key = new RsaSecurityKey(rsa);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            key = new ECDsaSecurityKey(ec);
        }

        key.KeyId = Base64UrlEncoder.Encode(key.ComputeJwkThumbprint());
        return key;
    }
}

/// <summary>
/// The signing key of an embedded run: an EC P-256 key kept in a file of the user's own (mode 0600,
/// outside the repository), created on first use, so tokens minted by one run or by the <c>token</c>
/// command stay valid for the next.
/// </summary>
internal static class DevelopmentKey
{
    /// <summary>The issuer of development tokens.</summary>
    public const string Issuer = "execdist-development";

    /// <summary>The audience of development tokens.</summary>
    public const string Audience = "execdist";

    /// <summary>The key file in force: <paramref name="configured"/>, else <c>~/.execdist/development-signing-key.pem</c>.</summary>
    public static string PathOf(string? configured) =>
        !string.IsNullOrWhiteSpace(configured) ? configured
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 0 } home ? home : Path.GetTempPath(), ".execdist", "development-signing-key.pem");

    /// <summary>The key in <paramref name="path"/>, created there when missing.</summary>
    public static ECDsaSecurityKey LoadOrCreate(string path)
    {
        var ec = ECDsa.Create();
        if (File.Exists(path))
        {
            ec.ImportFromPem(File.ReadAllText(path));
        }
        else
        {
            ec.GenerateKey(ECCurve.NamedCurves.nistP256);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var temp = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temp, string.Empty);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            File.WriteAllText(temp, ec.ExportPkcs8PrivateKeyPem());
            try
            {
                File.Move(temp, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first: use that one.
                File.Delete(temp);
                ec.ImportFromPem(File.ReadAllText(path));
            }
        }

        var key = new ECDsaSecurityKey(ec);
        key.KeyId = Base64UrlEncoder.Encode(key.ComputeJwkThumbprint());
        return key;
    }
}
