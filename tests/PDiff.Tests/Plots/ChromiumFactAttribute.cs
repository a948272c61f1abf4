using PDiff.Plots;
using Xunit;

namespace PDiff.Tests.Plots;

/// <summary>A test that renders PNGs: skipped, saying why, where Chromium or plotly.js is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!Chromium.IsAvailable)
            Skip = "Chromium not found (/usr/bin/chromium or PDIFF_CHROMIUM): run scripts/setup.sh to test PNG charts.";
        else if (PlotlyJs.TryLocate() == null)
            Skip = $"plotly.js not found ({PlotlyJs.RelativePath}): run scripts/setup.sh to test PNG charts.";
    }
}

/// <summary>
/// Tests that start Chromium or change the PDIFF_* variables the renderer reads run one at a time:
/// the machine has two cores, and an environment variable is process-wide.
/// </summary>
[CollectionDefinition("chromium", DisableParallelization = true)]
public sealed class ChromiumCollection;
