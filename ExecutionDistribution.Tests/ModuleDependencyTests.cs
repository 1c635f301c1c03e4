using System.Text.RegularExpressions;
using ExecutionDistribution.Tests.Contract;

namespace ExecutionDistribution.Tests;

/// <summary>
/// Each module of the service uses only the modules docs/architecture.md allows it ("Modules and
/// their dependencies"): a source scan of every file's namespace and of the service namespaces it
/// names (usings and qualified names).
/// </summary>
[Category("Unit")]
public sealed partial class ModuleDependencyTests
{
    /// <summary>The allowed dependencies, as docs/architecture.md draws them. A module may always use its own sub-modules and parent.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["Contract"] = [],
        ["Hosting"] = ["Contract"],
        ["Security"] = ["Contract", "Core", "Hosting"],
        ["Core"] = ["Contract", "Hosting"],
        ["Subscriptions"] = ["Contract", "Core", "Hosting"],
        ["Orders"] = ["Contract", "Core", "Hosting"],
        ["Topics"] = ["Contract", "Core", "Hosting", "Caching"],
        ["Persistence"] = ["Contract", "Hosting", "Security", "Orders", "Subscriptions", "Topics"],
        ["Caching"] = ["Contract", "Hosting", "Orders", "Persistence", "Subscriptions"],
        ["Audit"] = ["Contract", "Core", "Hosting", "Persistence", "Subscriptions"],
        ["Streaming"] = ["Contract", "Core", "Hosting", "Security", "Audit", "Orders", "Subscriptions"],
        ["Ingest"] = ["Contract", "Core", "Hosting", "Security"],
        ["Kafka"] = ["Contract", "Core", "Hosting", "Ingest"],
        ["Api"] = ["Contract", "Core", "Hosting", "Security", "Audit", "Caching", "Orders", "Subscriptions", "Topics"],
    };

    [Test]
    public void Every_module_uses_only_the_modules_it_is_allowed_to()
    {
        var root = Path.GetDirectoryName(ContractDocumentTests.FindRepositoryFile("ExecutionDistribution/ExecutionDistribution.csproj"))!;
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        var modules = Allowed.Keys.ToHashSet(StringComparer.Ordinal);
        var typeNames = typeof(ExecDistApplication).Assembly.GetTypes().Select(t => t.FullName!.Split('+')[0]).ToHashSet(StringComparer.Ordinal);
        var violations = new List<string>();
        var scanned = 0;
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            if (FileNamespace().Match(text) is not { Success: true } ns || ns.Groups[1].Value.Split('.') is not [_, var module, ..])
            {
                continue; // the composition root (namespace ExecutionDistribution) wires every module
            }

            Assert.That(modules, Does.Contain(module), $"{Path.GetRelativePath(root, file)}: module {module} is in the table");
            scanned++;
            var code = Comment().Replace(text, string.Empty);
            var used = ServiceNamespace().Matches(code).Select(m => m.Groups[1].Value)
                .Concat(PartialName().Matches(code)
                    .Where(m => typeNames.Contains($"ExecutionDistribution.{m.Groups[1].Value}.{m.Groups[2].Value}"))
                    .Select(m => m.Groups[1].Value));
            foreach (var other in used.Distinct(StringComparer.Ordinal))
            {
                if (other != module && modules.Contains(other) && !Allowed[module].Contains(other))
                {
                    violations.Add($"{Path.GetRelativePath(root, file)}: {module} uses {other}");
                }
            }
        }

        Assert.That(scanned, Is.GreaterThan(100), "the service's files were found");
        Assert.That(violations, Is.Empty);
    }

    [GeneratedRegex(@"^namespace ([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex FileNamespace();

    // ExecutionDistribution.Core, ExecutionDistribution.Streaming.Grpc... (the generated gRPC types live in ExecutionDistribution.Grpc.V1, the contract of the gRPC API).
    [GeneratedRegex(@"\bExecutionDistribution\.(\w+)")]
    private static partial Regex ServiceNamespace();

    // A type named through a sibling namespace: Core.Delivery inside ExecutionDistribution.Orders (kept when such a type exists).
    [GeneratedRegex(@"(?<![\w.])(\w+)\.([A-Z]\w*)")]
    private static partial Regex PartialName();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex Comment();
}
