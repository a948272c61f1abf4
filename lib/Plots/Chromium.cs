using System.Diagnostics;

namespace PDiff.Plots;

/// <summary>
/// Renders an HTML page to PNG with headless Chromium (Debian package <c>chromium</c>, installed by
/// scripts/setup.sh). One process per picture, with a fresh profile folder that is deleted afterwards, so
/// renders never share state and several may run at once. The flags are the ones checked on these machines
/// (design.md §9): no network beyond the file:// page, no first-run or update machinery, and a virtual
/// time budget so Plotly's timers finish before the screenshot is taken.
/// </summary>
public static class Chromium
{
    public const string EnvironmentVariable = "PDIFF_CHROMIUM";
    static readonly string[] KnownPaths = { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" };

    /// <summary>Wall-clock limit for one render; a hung browser is killed and reported.</summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The browser executable (PDIFF_CHROMIUM, else /usr/bin/chromium, ...), or null.</summary>
    public static string? TryLocate()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
        return KnownPaths.FirstOrDefault(File.Exists);
    }

    public static bool IsAvailable => TryLocate() != null;

    /// <summary>Throws unless a screenshot of width x height pixels is possible (1..10000 a side).</summary>
    internal static void CheckSize(int width, int height)
    {
        if (width <= 0 || height <= 0 || width > 10000 || height > 10000)
            throw new ArgumentOutOfRangeException(nameof(width), $"PNG size {width}x{height} must be within 1..10000 pixels a side.");
    }

    /// <summary>
    /// Screenshots <paramref name="html"/> at width x height CSS pixels. Files the page refers to by
    /// file:// URL (plotly.js) are loaded from disk. Throws with the browser's stderr when no PNG appears.
    /// </summary>
    public static byte[] Screenshot(string html, int width, int height)
    {
        CheckSize(width, height);
        var exe = TryLocate() ?? throw new FileNotFoundException(
            "Chromium (needed for PNG charts) was not found at " +
            (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } e ? $"{EnvironmentVariable}={e}" : string.Join(", ", KnownPaths)) +
            ". Run scripts/setup.sh (it installs the Debian package chromium), or point " + EnvironmentVariable + " at a Chrome/Chromium binary.");

        var dir = Directory.CreateTempSubdirectory("pdiff-chromium-");
        try
        {
            var page = Path.Combine(dir.FullName, "page.html");
            var png = Path.Combine(dir.FullName, "out.png");
            var profile = Directory.CreateDirectory(Path.Combine(dir.FullName, "profile")).FullName;
            File.WriteAllText(page, html);

            var psi = new ProcessStartInfo(exe)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = dir.FullName,
            };
            foreach (var a in new[]
                     {
                         "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         $"--user-data-dir={profile}", $"--window-size={width},{height}",
                         "--virtual-time-budget=5000", $"--screenshot={png}", new Uri(page).AbsoluteUri,
                     })
                psi.ArgumentList.Add(a);

            using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {exe}.");
            // Drain both pipes while waiting: a browser blocked on a full pipe would look like a hang.
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(Timeout))
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                p.WaitForExit(5000);
                throw new TimeoutException($"Chromium did not render the chart within {Timeout.TotalSeconds:0} s ({exe}); it was stopped.");
            }
            p.WaitForExit(); // flushes the redirected streams
            if (!File.Exists(png) || new FileInfo(png).Length == 0)
                throw new InvalidOperationException(
                    $"Chromium exited with code {p.ExitCode} without writing a screenshot. stderr:\n{Tail(stderr.Result)}{Tail(stdout.Result)}");
            return File.ReadAllBytes(png);
        }
        finally
        {
            // The profile folder holds a few MB of caches; a renderer may still be closing files briefly.
            for (var i = 0; i < 5; i++)
            {
                try { dir.Delete(recursive: true); break; }
                catch (IOException) { Thread.Sleep(100); }
                catch (UnauthorizedAccessException) { Thread.Sleep(100); }
            }
        }
    }

    static string Tail(string s) => s.Length <= 2000 ? s : "..." + s[^2000..];
}
