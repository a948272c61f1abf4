using PDiff.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Serialization;

/// <summary>
/// torch.save files made to attack a loader: deep nests that would exhaust a recursive reader's stack,
/// globals that run code in Python's unpickler, and data that disagrees with its checksum. Each must
/// end in InvalidDataException naming the file; nothing may run, crash the process or leak a tensor.
/// </summary>
[Collection(PDiff.Tests.TorchFixes.NativeStateCollection.Name)]
public class HostileFileTests
{
    static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    // A stack overflow ends the whole test process instead of failing a test, so the nests are read on a
    // thread with a small stack: a reader that recursed once per level would die here long before 10,000.
    static Exception? OnSmallStack(Action read)
    {
        Exception? caught = null;
        var thread = new Thread(() =>
        {
            try { read(); }
            catch (Exception e) { caught = e; }
        }, maxStackSize: 256 * 1024);
        thread.Start();
        thread.Join();
        return caught;
    }

    /// <summary>{"w": _rebuild_from_type_v2 wrapped <paramref name="extra"/> more times around a plain rebuild}.</summary>
    static byte[] RebuildNest(int extra)
    {
        var w = new PickleWriter().Op('}').Op('(').Str("w");
        w.Global("torch._tensor", "_rebuild_from_type_v2");
        // Each level's arguments are (function, tensor class, that function's arguments, state).
        for (var i = 0; i < extra; i++) w.Op('(').Global("torch._tensor", "_rebuild_from_type_v2").Global("torch._tensor", "Tensor");
        w.Op('(').Global("torch._utils", "_rebuild_tensor_v2").Global("torch._tensor", "Tensor")
            .TensorArgs("FloatStorage", "0", 2, 0, new[] { 2 }, new[] { 1 }).Op('}').Op('t');
        for (var i = 0; i < extra; i++) w.Op('}').Op('t');
        return Kit.Archive(w.Op('R').Op('u').Stop(), ("0", Floats(5, 6)));
    }

    [Fact]
    public void ReadsTheSingleRebuildWrapperThatTorchSaveWrites()
    {
        using var scope = torch.NewDisposeScope();
        var ck = PtCheckpoint.Load(RebuildNest(0), "wrapped.pt");
        Assert.Equal(new[] { "w" }, ck.Keys);
        Assert.Equal(new float[] { 5, 6 }, ck["w"].data<float>().ToArray());
    }

    public static TheoryData<string, byte[], string> DeepNests()
    {
        const int depth = 10_000;
        byte[] Nest(string open, string close, Func<PickleWriter, PickleWriter>? eachOpen = null)
        {
            var w = new PickleWriter();
            for (var i = 0; i < depth; i++)
            {
                w.Op(open[0]);
                eachOpen?.Invoke(w);
            }
            w.Op('N');
            for (var i = 0; i < depth; i++) w.Op(close[0]);
            return Kit.Archive(w.Stop());
        }
        return new()
        {
            { "rebuild", RebuildNest(depth), $"nests torch._tensor._rebuild_from_type_v2 more than {8} levels deep" },
            { "lists", Nest("(", "l"), "nest deeper than 100 levels" },
            { "tuples", Nest("(", "t"), "nest deeper than 100 levels" },
            { "dicts", Nest("(", "d", w => w.Str("k")), "nest deeper than 100 levels" },
        };
    }

    [Theory]
    [MemberData(nameof(DeepNests))]
    public void RefusesTenThousandDeepNestsWithoutExhaustingTheStack(string name, byte[] bytes, string problem)
    {
        long leaked = 0;
        var error = OnSmallStack(() =>
        {
            var live = Kit.LiveTensors; // counted per thread: measured on the reading thread
            try { PtCheckpoint.Load(bytes, name + ".pt"); }
            finally { leaked = Kit.LiveTensors - live; }
        });
        var ex = Assert.IsType<InvalidDataException>(error);
        Assert.Contains($"'{name}.pt'", ex.Message);
        Assert.Contains(problem, ex.Message);
        Assert.Equal(0, leaked);
    }

    public static TheoryData<string, string, Func<string, byte[]>> CodeRunners()
    {
        // Each would run `touch <marker>` in Python's pickle.load.
        byte[] Call(Func<PickleWriter, PickleWriter> callable, string marker) =>
            Kit.Archive(callable(new PickleWriter().Op('}').Op('(').Str("w").FloatTensor("0", 1, 0, new[] { 1 }, new[] { 1 }).Str("x"))
                .Op('(').Str("touch " + marker).Op('t').Op('R').Op('u').Stop(), ("0", Floats(1)));
        return new()
        {
            { "os", "os.system", m => Call(w => w.Global("os", "system"), m) },
            { "posix", "posix.system", m => Call(w => w.Str("posix").Str("system").Raw(0x93), m) }, // STACK_GLOBAL
            { "subprocess", "subprocess.Popen", m => Call(w => w.Global("subprocess", "Popen"), m) },
            { "eval", "builtins.eval", m => Call(w => w.Global("builtins", "eval"), m) },
            { "exec", "__builtin__.exec", m => Call(w => w.Global("__builtin__", "exec"), m) },
            { "getattr", "builtins.getattr", m => Call(w => w.Global("builtins", "getattr"), m) },
        };
    }

    [Theory]
    [MemberData(nameof(CodeRunners))]
    public void RefusesPicklesThatNameCodeRunningGlobals(string name, string global, Func<string, byte[]> make)
    {
        using var dir = new TempDir();
        var marker = dir.File("ran");
        var live = Kit.LiveTensors;
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.Load(make(marker), name + ".pt"));
        Assert.Contains($"'{name}.pt'", ex.Message);
        Assert.Contains($"names {global}, which no checkpoint needs", ex.Message);
        Assert.False(File.Exists(marker));
        Assert.Equal(live, Kit.LiveTensors);
    }

    [Fact]
    public void OtherGlobalsAreOnlyNamedNeverLookedUp()
    {
        using var scope = torch.NewDisposeScope();
        // {"w": tensor, "cfg": mylib.Config("x")}: the call is kept as an opaque name and skipped.
        var pickle = new PickleWriter().Op('}').Op('(').Str("w").FloatTensor("0", 1, 0, new[] { 1 }, new[] { 1 })
            .Str("cfg").Global("mylib", "Config").Op('(').Str("x").Op('t').Op('R').Op('u').Stop();
        var ck = PtCheckpoint.Load(Kit.Archive(pickle, ("0", Floats(2))), "config.pt");
        Assert.Equal(new[] { "w" }, ck.Keys);
    }

    static byte[] OneTensor(string storageType, int numel, byte[] record) =>
        Kit.Archive(new PickleWriter().Op('}').Op('(').Str("w").Tensor(storageType, "0", numel, 0, new[] { numel }, new[] { 1 }).Op('u').Stop(),
            ("0", record));

    [Fact]
    public void RefusesADataRecordThatFailsItsCrc()
    {
        var record = Floats(0, 1, 2, 3);
        var bytes = OneTensor("FloatStorage", 4, record);
        var at = bytes.AsSpan().IndexOf(record);
        Assert.True(at > 0);
        bytes[at + 5] ^= 0x01; // 1.0f becomes 1.0000001f: only the checksum can tell
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.Load(bytes, "flipped.pt"));
        Assert.Contains("'flipped.pt'", ex.Message);
        Assert.Contains("record 'data/0' fails its CRC check", ex.Message);
    }

    [Fact]
    public void RefusesBoolBytesOtherThanZeroAndOne()
    {
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.Load(OneTensor("BoolStorage", 3, new byte[] { 1, 0, 2 }), "bools.pt"));
        Assert.Contains("bool storage '0' holds bytes other than 0 and 1", ex.Message);
    }

    [Fact]
    public void RefusesOneStorageDeclaredWithTwoSizes()
    {
        // The second reference claims 100 elements of a 4-element record: a view checked against the
        // claim instead of the storage would read past it.
        var pickle = new PickleWriter().Op('}').Op('(')
            .Str("a").FloatTensor("0", 4, 0, new[] { 4 }, new[] { 1 })
            .Str("b").FloatTensor("0", 100, 0, new[] { 100 }, new[] { 1 })
            .Op('u').Stop();
        var live = Kit.LiveTensors;
        var ex = Assert.Throws<InvalidDataException>(() => PtCheckpoint.Load(Kit.Archive(pickle, ("0", Floats(0, 1, 2, 3))), "twosizes.pt"));
        Assert.Contains("storage '0' is declared with both 4 and 100 elements", ex.Message);
        Assert.Equal(live, Kit.LiveTensors);
    }
}
