namespace ExecutionDistribution.Contract;

/// <summary>Rules for the dot-separated routing keys events carry (patterns are in <c>Distribution.TopicPattern</c>).</summary>
public static class RoutingKeys
{
    /// <summary>
    /// A key is one or more non-empty segments separated by '.', with no wildcard characters
    /// ('*' and '#' are reserved for subscription patterns) and no white space.
    /// </summary>
    public static bool IsValidKey(string key, out string reason)
    {
        reason = string.Empty;
        var segmentLength = 0;
        foreach (var ch in key)
        {
            if (ch == '.')
            {
                if (segmentLength == 0)
                {
                    reason = "must not have an empty segment (two dots, or a dot at either end)";
                    return false;
                }

                segmentLength = 0;
                continue;
            }

            if (ch is '*' or '#')
            {
                reason = "must not contain '*' or '#', which are reserved for subscription patterns";
                return false;
            }

            if (char.IsWhiteSpace(ch))
            {
                reason = "must not contain white space";
                return false;
            }

            segmentLength++;
        }

        if (segmentLength == 0)
        {
            reason = "must not have an empty segment (two dots, or a dot at either end)";
            return false;
        }

        return true;
    }
}
