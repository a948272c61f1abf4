using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PDiff.Data;
using PDiff.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// A zoo of whole networks with every network's hidden units permuted to match network 0's (<see cref="WeightMatching"/>),
/// written as a derived zoo of its own: the same networks (each computes what it computed before), in one
/// coordinate system. A zoo trained from many seeds holds each feature at a different position in every network, so
/// its per-coordinate statistics, weight averages and any generator trained on it mix unrelated units; aligned, they
/// compare like with like. Network 0 and the base model stay as they are.
/// </summary>
public static class AlignedZoo
{
    static ZooTask? Reusable(string dir, string source, TextWriter? log)
    {
        if (!File.Exists(Path.Combine(dir, "manifest.json"))) return null;
        try
        {
            // A manifest.json in a folder that is no zoo of ours is someone else's file: the writer refuses it, nothing is "damaged".
            if (OwnedFolder.KindOf(dir) != "zoo") return null;
            var zoo = ZooTask.Open(dir);
            if (zoo.Manifest.Source != source || zoo.Manifest.Torch != torch.__version__) return null;
            zoo.Verify();
            log?.WriteLine($"[align] reusing {dir} ({zoo.K} aligned networks)");
            return zoo;
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            log?.WriteLine($"[align] {dir} is damaged ({e.Message}): rebuilding");
            return null;
        }
    }

    /// <summary>What the aligned zoo's manifest records as its source: the method and a hash of the source zoo's checkpoints.</summary>
    public static string SourceText(ZooTask from)
    {
        var shas = from.Manifest.Checkpoints.Select(c => c.Sha256 ?? "");
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(from.Manifest.Source + "\n" + string.Join("\n", shas))))[..16].ToLowerInvariant();
        return $"aligned:weight-matching to checkpoint 0 of {from.Manifest.Task} (checkpoints {hash})";
    }

    /// <summary>
    /// Opens the aligned zoo in <paramref name="dir"/> when it was made from this <paramref name="from"/> by this libtorch,
    /// else aligns, rescores (validation and test, through the same write-back path as every evaluation) and writes it
    /// (a folder pdiff did not write is refused unless <paramref name="force"/>).
    /// </summary>
    public static ZooTask Ensure(ZooTask from, string dir, TextWriter? log = null, bool force = false)
    {
        if (ZooStore.SameFolder(dir, from.Directory))
            throw new ArgumentException($"AlignedZoo: {dir} is the source zoo's own folder; write the aligned zoo to another.", nameof(dir));
        var source = SourceText(from);
        if (Reusable(dir, source, log) is { } done) return done;
        // Locked before the work: another process aligning into this folder is waited for and its zoo reused.
        using var writer = ZooWriter.Begin(dir, force, wait: true, log: log);
        if (Reusable(dir, source, log) is { } made) return made;
        var clock = Stopwatch.StartNew();
        var layout = from.Layout;
        var groups = PermutationGroups.For(from.Manifest.Model, layout);
        using var matrix = from.LoadMatrix();
        var (aligned, rows) = WeightMatching.AlignAll(matrix, layout, groups);
        using var _ = aligned;
        var others = rows.Skip(1).ToList();
        log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[align] {from.K} networks to network 0 by weight matching ({string.Join(", ", groups.Select(g => $"{g.Name}: {g.Size}"))}): L2 to it " +
            $"{others.Average(r => r.Before):F2} → {others.Average(r => r.After):F2} on average, {others.Average(r => r.Sweeps):F1} sweeps, {clock.Elapsed.TotalSeconds:F1}s"));
        var seconds = new Dictionary<string, double>(from.Manifest.Seconds);
        if (from.Manifest.Data is null)
        {
            // An import made without data: nothing to rescore on. A permutation keeps each network's function (AlignmentTests),
            // so the source's accuracies (NaN when it has none) still hold.
            log?.WriteLine($"[align] {from.Directory} records no data split: the aligned networks keep the source's accuracies → {Path.GetFullPath(dir)}");
            seconds["align"] = clock.Elapsed.TotalSeconds;
            return ZooStore.SaveDerived(from, dir, aligned, source, from.Manifest.Checkpoints.Select(c => c.ValAccuracy).ToList(),
                from.Manifest.Checkpoints.Select(c => c.TestAccuracy).ToList(), force, seconds: seconds);
        }
        IReadOnlyList<ModelScore> val, test;
        using (var model = from.LoadBaseModel())
        using (var data = from.LoadData())
        using (var scorer = new CachedScorer(model, layout, new LabeledImages(data.Validation.X, data.Validation.Y), new LabeledImages(data.Test.X, data.Test.Y)))
        {
            val = scorer.Score(aligned, EvalSplit.Validation);
            test = scorer.Score(aligned, EvalSplit.Test);
        }
        // A permutation keeps each network's function; only the order of floating-point sums changes.
        var drift = from.Manifest.Checkpoints.Select((c, i) => Math.Max(Math.Abs(c.ValAccuracy - val[i].Accuracy), Math.Abs(c.TestAccuracy - test[i].Accuracy))).Max();
        log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[align] rescored: test mean {100 * test.Average(s => s.Accuracy):F2}% (largest change of a network's accuracy {100 * drift:F3} pt), {clock.Elapsed.TotalSeconds:F0}s → {Path.GetFullPath(dir)}"));
        // The source's costs, with the alignment (matching and rescoring) added to the total.
        seconds["align"] = clock.Elapsed.TotalSeconds;
        seconds["total"] = from.Manifest.Seconds.GetValueOrDefault("total") + clock.Elapsed.TotalSeconds;
        return ZooStore.SaveDerived(from, dir, aligned, source, force: force, scores: (val, test), seconds: seconds);
    }
}
