using PDiff.Studies;
using PDiff.Storage;
using Xunit;

namespace PDiff.Tests.Studies;

/// <summary>
/// Results folders written before folders carried a marker: adopted only with the files a run.json of ours lists
/// (not newer than it) and the files we always wrote beside it when their content is ours; never a user's file.
/// </summary>
public sealed class ResultsFolderLegacyTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("pdiff-legacy-results-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    string Write(string relative, string content, DateTime? when = null)
    {
        var p = Path.Combine(dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, content);
        if (when is { } w) File.SetLastWriteTimeUtc(p, w);
        return p;
    }

    const string RunJson = """{"tool": "PDiff.Evaluation.Evaluator", "created_utc": "2026-11-01T00:00:00Z", "torch_version": "2.10.0", "files": ["table.csv", "notes.md", "../escape.txt"]}""";

    [Fact]
    public void OnlyWhatAnOldRunJsonOfOursListsAndWhatIsRecognisablyOursIsAdopted()
    {
        var t = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);
        Write("run0/table.csv", "group,mean\n", t);
        Write("run0/run.json", RunJson, t.AddSeconds(1));
        Write("run0/notes.md", "the user's notes, written later", t.AddHours(1));   // listed by name only, newer than run.json
        Write("run0/losses.json", """{"ae": [1.0], "diffusion": [2.0], "validations": []}""");
        var config = Write("run0/pdiff_config.json", "my own config");
        var row = Write("main_row.json", """{"mine": 1}""");
        Write("other/run.json", """{"tool": "someone-else", "files": ["a.txt"]}""");   // another tool's: ignored

        var f = ResultsFolders.Claim(dir, "fingerprint");   // recognised: no --force needed
        Assert.Equal(new[] { "run0/losses.json", "run0/run.json", "run0/table.csv" }, f.Files);

        // Rerunning into it: the user's files at names a run writes are refused, forced or not.
        var e = Assert.Throws<ForeignFileException>(() => ResultsFolders.Claim(dir, "fingerprint", force: true, planned: ResultsFolders.TaskFiles(1)));
        Assert.Equal(config, e.Path);
        File.Delete(config);
        e = Assert.Throws<ForeignFileException>(() => ResultsFolders.Claim(dir, "fingerprint", planned: ResultsFolders.TaskFiles(1)));
        Assert.Equal(row, e.Path);
        Assert.Equal("""{"mine": 1}""", File.ReadAllText(row));
    }

    [Fact]
    public void AFolderWithOnlyAnotherToolsRunJsonIsNotOurs()
    {
        Write("run.json", """{"tool": "someone-else", "created_utc": "x", "torch_version": "y", "files": ["a.csv"]}""");
        Write("a.csv", "1");
        Assert.Throws<ForeignFolderException>(() => ResultsFolders.Claim(dir, "fingerprint"));
        Assert.False(File.Exists(Path.Combine(dir, OwnedFolder.MarkerName)));
    }
}
