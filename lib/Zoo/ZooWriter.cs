using System.Globalization;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// Writes a zoo folder so that a kill at any moment leaves the old zoo or the new one, and never touches a
/// user's files. Everything new (base model, TorchScript copy, checkpoints, manifest) is written into a
/// staging folder inside the zoo (<see cref="StagingFolder"/>); <see cref="Commit"/> then takes the old
/// manifest away (from that moment the folder is no zoo, so nothing reads a mix), renames the new files into
/// place, and puts the new manifest in last. The zoo folder is an <see cref="OwnedFolder"/>: only files on
/// its list are overwritten or deleted; a non-empty folder that is not ours is refused unless forced.
/// </summary>
public sealed class ZooWriter
{
    public const string StagingFolder = ".pdiff-staging";
    const string Kind = "zoo";

    readonly OwnedFolder folder;

    ZooWriter(OwnedFolder folder, string staging) => (this.folder, Staging) = (folder, staging);

    /// <summary>The zoo folder (full path).</summary>
    public string Directory => folder.Directory;

    /// <summary>Where the new zoo's files go until <see cref="Commit"/>.</summary>
    public string Staging { get; }

    /// <summary>
    /// Claims <paramref name="dir"/> for a zoo. A staging folder left by a killed build is kept when
    /// <paramref name="keepStaged"/> (its base model may be reused), else emptied.
    /// </summary>
    public static ZooWriter Begin(string dir, bool force = false, bool keepStaged = true)
    {
        var folder = OwnedFolder.Claim(dir, Kind, force, LegacyFiles);
        var staging = Path.Combine(folder.Directory, StagingFolder);
        if (!keepStaged && System.IO.Directory.Exists(staging)) System.IO.Directory.Delete(staging, true);
        System.IO.Directory.CreateDirectory(staging);
        return new ZooWriter(folder, staging);
    }

    /// <summary>
    /// A zoo written before folders carried a marker: ours when its manifest is a valid pdiff-zoo manifest;
    /// we own what that manifest lists (and nothing else there).
    /// </summary>
    static IEnumerable<string>? LegacyFiles(string dir)
    {
        try
        {
            var m = ZooTask.Open(dir).Manifest;
            var files = m.DataFiles().Prepend("manifest.json").ToList();
            if (m.BaseManifest is { } b) files.Add(b);
            return files;
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>
    /// After a failed write: removes the staging folder and what this writer created (<see cref="OwnedFolder.Abandon"/>),
    /// so a new folder is gone again and one that held a zoo or files before is left as it was.
    /// </summary>
    public void Abandon()
    {
        try { if (System.IO.Directory.Exists(Staging)) System.IO.Directory.Delete(Staging, true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // best effort: the caller reports the write's own error
        folder.Abandon();
    }

    /// <summary>The staged path of a zoo file (relative, e.g. "base.safetensors").</summary>
    public string Staged(string relative) => OwnedFolder.Confine(Staging, relative, "a zoo file name");

    /// <summary>
    /// Writes row k of <paramref name="vectors"/> as checkpoint k, fills in every file's SHA-256, writes the
    /// manifest, and swaps the new zoo in. The base model (and a TorchScript source, when the spec names one)
    /// must already be staged. <paramref name="scores"/>: the checkpoints' scores on both splits, kept as
    /// <see cref="ZooScores.FileName"/> so that evaluations need not score the originals again.
    /// </summary>
    public ZooTask Commit(ZooManifest manifest, Tensor vectors, (IReadOnlyList<ModelScore> Validation, IReadOnlyList<ModelScore> Test)? scores = null)
    {
        var layout = manifest.Subset.Layout();
        if (vectors.dim() != 2 || vectors.size(0) != manifest.K || vectors.size(1) != layout.Length)
            throw new ArgumentException($"ZooWriter.Commit: vectors are [{string.Join(", ", vectors.shape)}] but the manifest lists {manifest.K} checkpoints of {layout.Length} numbers.");
        var baseStaged = Staged(manifest.BaseModel);
        if (!File.Exists(baseStaged))
            throw new FileNotFoundException($"ZooWriter.Commit: the base model {manifest.BaseModel} is not staged in {Staging}; write it there first.");
        var records = new List<CheckpointRecord>();
        for (var k = 0; k < manifest.K; k++)
        {
            var rec = manifest.Checkpoints[k];
            var path = Staged(rec.File);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var scope = torch.NewDisposeScope())
            {
                var dict = layout.Views(vectors.select(0, k)).ToDictionary(kv => kv.Key, kv => kv.Value.contiguous());
                Safetensors.Save(path, dict, new Dictionary<string, string>
                {
                    ["pdiff.task"] = manifest.Task,
                    ["pdiff.index"] = k.ToString(CultureInfo.InvariantCulture),
                });
            }
            records.Add(rec with { Sha256 = AtomicFile.Sha256(path) });
        }
        string? scoresFile = null, scoresSha = null;
        if (scores is { } sc)
        {
            if (sc.Validation.Count != manifest.K || sc.Test.Count != manifest.K)
                throw new ArgumentException($"ZooWriter.Commit: {sc.Validation.Count} validation and {sc.Test.Count} test scores for {manifest.K} checkpoints.");
            ZooScores.Save(Staged(ZooScores.FileName), sc.Validation, sc.Test);
            (scoresFile, scoresSha) = (ZooScores.FileName, AtomicFile.Sha256(Staged(ZooScores.FileName)));
        }
        var final = manifest with
        {
            Checkpoints = records,
            Scores = scoresFile,
            ScoresSha256 = scoresSha,
            BaseSha256 = AtomicFile.Sha256(baseStaged),
            SourceSha256 = manifest.Model.Source is { } src && !Path.IsPathRooted(src) ? AtomicFile.Sha256(Staged(src)) : null,
        };
        AtomicFile.WriteAllText(Staged("manifest.json"), JsonSerializer.Serialize(final, BaseModels.Json));
        return Swap(final);
    }

    ZooTask Swap(ZooManifest m)
    {
        var files = m.DataFiles().ToList();
        if (m.BaseManifest is { } b && File.Exists(Staged(b))) files.Add(b);
        // Every file we are about to put in place is on our list first (so a kill leaves none unlisted).
        folder.Record(files.Append("manifest.json"));
        var manifest = Path.Combine(Directory, "manifest.json");
        if (File.Exists(manifest)) File.Delete(manifest);            // from here the folder is no zoo until the new manifest lands
        foreach (var f in files)
        {
            var target = OwnedFolder.Confine(Directory, f, "a zoo file name");
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(Staged(f), target, overwrite: true);
        }
        File.Move(Staged("manifest.json"), manifest, overwrite: true);
        // Files of an older zoo that the new one does not list (e.g. checkpoints beyond a smaller K).
        folder.DeleteAllBut(files.Append("manifest.json"));
        System.IO.Directory.Delete(Staging, true);
        return ZooTask.Open(Directory);
    }
}
