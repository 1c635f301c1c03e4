namespace ExecutionDistribution.Streaming.WebSockets;

/// <summary>
/// Which browser pages may open a stream (<c>WebSocket:AllowedOrigins</c>). Browsers send the page's
/// <c>Origin</c> with a WebSocket upgrade and, unlike for fetches, do not enforce CORS on it, so the
/// server must: a page on another site would otherwise read a user's streams with the user's
/// connection. Allowed: requests without an <c>Origin</c> (clients that are not browsers), pages of
/// the service's own origin, and the origins listed (<c>*</c> allows any).
/// </summary>
internal static class OriginPolicy
{
    /// <summary>True when the upgrade request may proceed.</summary>
    public static bool Allows(HttpRequest request, IReadOnlyList<string> allowedOrigins)
    {
        if (request.Headers.Origin is not { Count: > 0 } origins || origins[0] is not { Length: > 0 } origin)
        {
            return true;
        }

        if (string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        foreach (var allowed in allowedOrigins)
        {
            if (allowed == "*" || string.Equals(allowed.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
