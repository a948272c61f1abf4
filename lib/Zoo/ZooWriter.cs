using System.Globalization;
using System.Text.Json;
using PDiff.Checkpoints;
using PDiff.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.Zoo;

/// <summary>
/// Writes a zoo folder so that a kill at any moment leaves the old zoo or the new one, a reader at any moment
/// finds a complete zoo, and a user's files are never touched. Everything new (base model, TorchScript copy,
/// checkpoints, scores) is written into a staging folder inside the zoo (<see cref="StagingFolder"/>);
/// <see cref="Commit"/> renames it to a revision folder of its own (<c>rev-&lt;n&gt;/</c>, a name not yet taken), then
/// renames the new <c>manifest.json</c>, which names the files inside that revision, over the old one: that one
/// rename is the swap, so until it the old manifest and the files it names are all there, and from it the new
/// ones are. Only then are the old zoo's files removed. A zoo from before revisions (files beside the manifest)
/// is read as it is and replaced the same way. The zoo folder is an <see cref="OwnedFolder"/>: only files on its
/// list are overwritten or deleted, a non-empty folder that is not ours is refused unless forced, and the writer
/// holds the folder's <see cref="FolderLock"/> from <see cref="Begin"/> until <see cref="Commit"/> or
/// <see cref="Dispose"/>, so a second writer is refused (or waits) before it does any work.
/// </summary>
public sealed class ZooWriter : IDisposable
{
    public const string StagingFolder = ".pdiff-staging";
    /// <summary>The revision folders' names: this prefix and a number.</summary>
    public const string RevisionPrefix = "rev-";
    const string Kind = "zoo";

    readonly OwnedFolder folder;

    ZooWriter(OwnedFolder folder, string staging) => (this.folder, Staging) = (folder, staging);

    /// <summary>The zoo folder (full path).</summary>
    public string Directory => folder.Directory;

    /// <summary>Where the new zoo's files go until <see cref="Commit"/>.</summary>
    public string Staging { get; }

    /// <summary>
    /// For fault-injection tests: called with the name of each step of the swap ("staged", "listed", "moved",
    /// "committed", "cleaned") as it completes, so a test can stop the writer at each and kill it.
    /// </summary>
    public static Action<string>? SwapStep { get; set; }

    /// <summary>
    /// Claims <paramref name="dir"/> for a zoo, locking it (refused when another process writes it, or waited for
    /// when <paramref name="wait"/>, said in <paramref name="log"/>). A user's file at a name the zoo takes
    /// (<see cref="Planned"/>, plus <paramref name="alsoWrites"/>) is refused now, forced or not. A staging folder
    /// left by a killed build is kept when <paramref name="keepStaged"/> (its base model may be reused), else emptied;
    /// files of ours that the current manifest does not name (a killed swap's leftovers) are removed.
    /// </summary>
    public static ZooWriter Begin(string dir, bool force = false, bool keepStaged = true, IEnumerable<string>? alsoWrites = null,
        bool wait = false, TextWriter? log = null)
    {
        var folder = OwnedFolder.Claim(dir, Kind, force, LegacyZoo.OwnedFiles, Planned(alsoWrites), wait, log);
        try
        {
            folder.Record(StagingFolder + "/");
            var staging = Path.Combine(folder.Directory, StagingFolder);
            if (!keepStaged && System.IO.Directory.Exists(staging)) System.IO.Directory.Delete(staging, true);
            System.IO.Directory.CreateDirectory(staging);
            if (ManifestFiles(folder.Directory) is { } current) folder.DeleteAllBut(current);
            return new ZooWriter(folder, staging);
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Refuses now what <see cref="Begin"/> would refuse (a folder of someone else's files without force, a file of
    /// someone else's at a name the zoo takes), writing and locking nothing: for writers that begin only after long work.
    /// </summary>
    public static void Check(string dir, bool force = false, IEnumerable<string>? alsoWrites = null) =>
        OwnedFolder.Check(dir, Kind, force, LegacyZoo.OwnedFiles, Planned(alsoWrites));

    /// <summary>
    /// The names a zoo takes at its folder's top (<see cref="OwnedFolder"/>'s planned names), plus <paramref name="also"/>:
    /// a user's file at one of them is refused before any work, forced or not. Everything else goes into a revision
    /// folder whose name is chosen free (<see cref="NextRevision"/>).
    /// </summary>
    public static IEnumerable<string> Planned(IEnumerable<string>? also = null) =>
        new[] { "manifest.json", StagingFolder + "/" }.Concat(also ?? Array.Empty<string>());

    /// <summary>
    /// Releases the folder's lock. A writer that did not commit leaves the old zoo as it was, and its staged files for
    /// the next writer to reuse; an empty staging folder (a writer that only looked, e.g. found a cached zoo) goes.
    /// </summary>
    public void Dispose()
    {
        try
        {
            if (System.IO.Directory.Exists(Staging) && !System.IO.Directory.EnumerateFiles(Staging, "*", SearchOption.AllDirectories).Any())
                System.IO.Directory.Delete(Staging, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next writer, which empties or reuses it.
        }
        folder.Dispose();
    }

    /// <summary>
    /// The files of the zoo in <paramref name="dir"/> as its manifest names them (itself included), or null when
    /// there is no valid pdiff-zoo manifest: what a new writer keeps of our files (see <see cref="LegacyZoo"/> for
    /// which files of a zoo from before markers are ours).
    /// </summary>
    static IEnumerable<string>? ManifestFiles(string dir)
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
        return Swap(final);
    }

    ZooTask Swap(ZooManifest staged)
    {
        var files = staged.DataFiles().ToList();
        if (staged.BaseManifest is { } b && File.Exists(Staged(b))) files.Add(b);
        else staged = staged with { BaseManifest = null };
        // The staging folder becomes the revision as it is: nothing but the new zoo's files goes with it.
        var keep = files.Select(f => Path.GetFullPath(Staged(f))).ToHashSet(StringComparer.Ordinal);
        foreach (var f in System.IO.Directory.EnumerateFiles(Staging, "*", SearchOption.AllDirectories).Where(f => !keep.Contains(Path.GetFullPath(f))).ToList())
            File.Delete(f);
        Step("staged");
        var revision = NextRevision();
        var m = InRevision(staged, revision);
        var listed = m.DataFiles().Concat(m.BaseManifest is { } mb ? new[] { mb } : Array.Empty<string>()).Append("manifest.json").ToList();
        // Every file we are about to put in place is on our list first (so a kill leaves none unlisted).
        folder.Record(listed);
        Step("listed");
        System.IO.Directory.Move(Staging, Path.Combine(Directory, revision));
        Step("moved");
        AtomicFile.WriteAllText(Path.Combine(Directory, "manifest.json"), JsonSerializer.Serialize(m, BaseModels.Json));   // the swap
        Step("committed");
        // The old zoo's files (a previous revision, or a zoo from before revisions) and a killed swap's leftovers.
        folder.DeleteAllBut(listed);
        Step("cleaned");
        var zoo = ZooTask.Open(Directory);
        folder.Dispose();
        return zoo;
    }

    static void Step(string name) => SwapStep?.Invoke(name);

    /// <summary>"rev-&lt;n&gt;" with n one above any revision-like name in the folder (ours or not, so it is free).</summary>
    string NextRevision()
    {
        var n = System.IO.Directory.EnumerateFileSystemEntries(Directory, RevisionPrefix + "*").Select(Path.GetFileName)
            .Select(x => int.TryParse(x.AsSpan(RevisionPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : 0)
            .DefaultIfEmpty(0).Max();
        return RevisionPrefix + (n + 1).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The manifest with every file it names moved into the revision folder (the hashes stay: the bytes do).</summary>
    static ZooManifest InRevision(ZooManifest m, string revision)
    {
        string In(string f) => revision + "/" + f.Replace('\\', '/');
        return m with
        {
            BaseModel = In(m.BaseModel),
            BaseManifest = m.BaseManifest is { } b ? In(b) : null,
            Model = m.Model.Source is { } s && !Path.IsPathRooted(s) ? m.Model with { Source = In(s) } : m.Model,
            Checkpoints = m.Checkpoints.Select(c => c with { File = In(c.File) }).ToList(),
            Scores = m.Scores is { } sc ? In(sc) : null,
        };
    }
}
