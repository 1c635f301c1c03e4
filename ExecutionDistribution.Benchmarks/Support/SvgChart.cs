using System.Globalization;
using System.Security;
using System.Text;

namespace ExecutionDistribution.Benchmarks.Support;

/// <summary>
/// Small SVG charts written by our own code (no library, nothing fetched at run time): lines of
/// points against a numeric x axis (optionally a logarithmic y axis), and grouped bars.
/// </summary>
public static class SvgChart
{
    private const int Width = 720;
    private const int Height = 400;
    private const int Left = 80;
    private const int Right = 190;
    private const int Top = 40;
    private const int Bottom = 60;
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

    /// <summary>One named line of (x, y) points.</summary>
    public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false, int? ColorIndex = null);

    /// <summary>A line chart; with <paramref name="logY"/> the y axis is logarithmic (values must be positive).</summary>
    public static string Lines(string title, string xLabel, string yLabel, IReadOnlyList<Series> series, bool logY = false)
    {
        var points = series.SelectMany(s => s.Points).ToList();
        if (points.Count == 0)
        {
            throw new ArgumentException("no points to plot", nameof(series));
        }

        var (xMin, xMax) = (points.Min(p => p.X), points.Max(p => p.X));
        var (yMin, yMax) = logY ? (Math.Pow(10, Math.Floor(Math.Log10(points.Min(p => p.Y)))), Math.Pow(10, Math.Ceiling(Math.Log10(points.Max(p => p.Y)))))
            : (0, Nice(points.Max(p => p.Y)));
        if (xMax <= xMin)
        {
            xMax = xMin + 1;
        }

        double X(double x) => Left + ((x - xMin) / (xMax - xMin) * (Width - Left - Right));
        double Y(double y) => logY
            ? Height - Bottom - ((Math.Log10(y) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)) * (Height - Top - Bottom))
            : Height - Bottom - ((y - yMin) / (yMax - yMin) * (Height - Top - Bottom));

        var svg = Begin(title, xLabel, yLabel);
        // Y grid and ticks.
        var ticks = logY
            ? Enumerable.Range(0, (int)Math.Round(Math.Log10(yMax / yMin)) + 1).Select(i => yMin * Math.Pow(10, i))
            : Enumerable.Range(0, 6).Select(i => yMin + ((yMax - yMin) * i / 5));
        foreach (var t in ticks)
        {
            svg.Append(Invariant($"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Y(t):0.0}\" y2=\"{Y(t):0.0}\" stroke=\"#ddd\"/>"));
            svg.Append(Invariant($"<text x=\"{Left - 6}\" y=\"{Y(t) + 4:0.0}\" text-anchor=\"end\">{Format(t)}</text>"));
        }

        foreach (var x in points.Select(p => p.X).Distinct().Order())
        {
            svg.Append(Invariant($"<text x=\"{X(x):0.0}\" y=\"{Height - Bottom + 18}\" text-anchor=\"middle\">{Format(x)}</text>"));
        }

        for (var i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var color = Colors[(s.ColorIndex ?? i) % Colors.Length];
            var path = string.Join(' ', s.Points.OrderBy(p => p.X).Select(p => Invariant($"{X(p.X):0.0},{Y(p.Y):0.0}")));
            svg.Append(Invariant($"<polyline class=\"series\" data-name=\"{Escape(s.Name)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{(s.Dashed ? " stroke-dasharray=\"6 4\"" : string.Empty)} points=\"{path}\"/>"));
            foreach (var p in s.Points)
            {
                svg.Append(Invariant($"<circle cx=\"{X(p.X):0.0}\" cy=\"{Y(p.Y):0.0}\" r=\"3\" fill=\"{color}\"><title>{Escape(s.Name)}: {Format(p.Y)} at {Format(p.X)}</title></circle>"));
            }

            Legend(svg, i, s.Name, color, s.Dashed);
        }

        return End(svg);
    }

    /// <summary>Grouped bars: for each group label, one bar per series value.</summary>
    public static string Bars(string title, string xLabel, string yLabel, IReadOnlyList<string> groups, IReadOnlyList<(string Name, IReadOnlyList<double> Values)> series)
    {
        var max = Nice(series.SelectMany(s => s.Values).DefaultIfEmpty(1).Max());
        var plotWidth = Width - Left - Right;
        var groupWidth = plotWidth / (double)Math.Max(1, groups.Count);
        var barWidth = groupWidth * 0.8 / Math.Max(1, series.Count);
        double Y(double v) => Height - Bottom - (v / max * (Height - Top - Bottom));
        var svg = Begin(title, xLabel, yLabel);
        for (var t = 0; t <= 5; t++)
        {
            var v = max * t / 5;
            svg.Append(Invariant($"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Y(v):0.0}\" y2=\"{Y(v):0.0}\" stroke=\"#ddd\"/>"));
            svg.Append(Invariant($"<text x=\"{Left - 6}\" y=\"{Y(v) + 4:0.0}\" text-anchor=\"end\">{Format(v)}</text>"));
        }

        for (var g = 0; g < groups.Count; g++)
        {
            var x0 = Left + (g * groupWidth) + (groupWidth * 0.1);
            svg.Append(Invariant($"<text x=\"{Left + ((g + 0.5) * groupWidth):0.0}\" y=\"{Height - Bottom + 18}\" text-anchor=\"middle\">{Escape(groups[g])}</text>"));
            for (var s = 0; s < series.Count; s++)
            {
                var value = g < series[s].Values.Count ? series[s].Values[g] : 0;
                svg.Append(Invariant($"<rect class=\"bar\" x=\"{x0 + (s * barWidth):0.0}\" y=\"{Y(value):0.0}\" width=\"{barWidth - 2:0.0}\" height=\"{Height - Bottom - Y(value):0.0}\" fill=\"{Colors[s % Colors.Length]}\"><title>{Escape(series[s].Name)}: {Format(value)}</title></rect>"));
            }
        }

        for (var s = 0; s < series.Count; s++)
        {
            Legend(svg, s, series[s].Name, Colors[s % Colors.Length], dashed: false);
        }

        return End(svg);
    }

    private static StringBuilder Begin(string title, string xLabel, string yLabel)
    {
        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">"));
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        svg.Append(Invariant($"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Escape(title)}</text>"));
        svg.Append(Invariant($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 15}\" text-anchor=\"middle\">{Escape(xLabel)}</text>"));
        svg.Append(Invariant($"<text transform=\"translate(18,{Height / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>"));
        svg.Append(Invariant($"<line x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>"));
        svg.Append(Invariant($"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Height - Bottom}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>"));
        return svg;
    }

    private static void Legend(StringBuilder svg, int index, string name, string color, bool dashed)
    {
        var y = Top + 10 + (index * 20);
        svg.Append(Invariant($"<line x1=\"{Width - Right + 12}\" x2=\"{Width - Right + 36}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"3\"{(dashed ? " stroke-dasharray=\"6 4\"" : string.Empty)}/>"));
        svg.Append(Invariant($"<text x=\"{Width - Right + 42}\" y=\"{y + 4}\">{Escape(name)}</text>"));
    }

    private static string End(StringBuilder svg) => svg.Append("</svg>\n").ToString();

    // A round upper bound for a linear axis: 1, 2 or 5 times a power of ten.
    private static double Nice(double max)
    {
        if (max <= 0)
        {
            return 1;
        }

        var p = Math.Pow(10, Math.Floor(Math.Log10(max)));
        return new[] { 1, 2, 5, 10 }.Select(m => m * p).First(v => v >= max);
    }

    private static string Format(double v) => v switch
    {
        >= 1_000_000 => (v / 1_000_000).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        >= 1_000 => (v / 1_000).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        >= 10 => v.ToString("0", CultureInfo.InvariantCulture),
        _ => v.ToString("0.##", CultureInfo.InvariantCulture),
    };

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
