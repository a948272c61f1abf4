using System.Buffers.Binary;
using PDiff.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PDiff.Tests.Serialization;

/// <summary>
/// Hundreds of damaged files per format, from fixed seeds: every one must either load (a byte flip in
/// tensor data can leave a valid file) or raise InvalidDataException naming the file. Any other
/// exception fails the test; a native crash or a hang would stop the test run. Each attempt is also
/// held to a small managed allocation, and no native tensor may outlive it.
/// </summary>
[Collection(PDiff.Tests.TorchFixes.NativeStateCollection.Name)]
public class FuzzTests
{
    const long MaxAllocationPerAttempt = 1 << 20; // the inputs are a few kB: nothing bigger is needed

    sealed class Tally
    {
        public int Loaded, Refused;
    }

    static void Attempt(string label, string name, Func<IDisposable> load, Tally tally, bool mustRefuse = false)
    {
        var live = Kit.LiveTensors;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            using (load()) tally.Loaded++;
            Assert.False(mustRefuse, $"{label}: a damaged file loaded");
        }
        catch (InvalidDataException e)
        {
            Assert.True(e.Message.Contains(name), $"{label}: the message does not name the file: {e.Message}");
            tally.Refused++;
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{label}: {e.GetType().Name} instead of InvalidDataException: {e.Message}");
        }
        var used = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(used < MaxAllocationPerAttempt, $"{label}: allocated {used} bytes");
        Assert.True(live == Kit.LiveTensors, $"{label}: {Kit.LiveTensors - live} native tensors leaked");
    }

    sealed class Loaded(IEnumerable<Tensor> tensors) : IDisposable
    {
        public void Dispose()
        {
            foreach (var t in tensors) t.Dispose();
        }
    }

    // ---- safetensors ----

    static byte[] SafetensorsSample(TempDir dir)
    {
        var path = dir.File("sample.safetensors");
        using var scope = torch.NewDisposeScope();
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["w"] = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3),
            ["steps"] = torch.tensor(new long[] { 7 }),
            ["mask"] = torch.tensor(new[] { true, false, true }),
            ["half"] = torch.ones(new long[] { 2 }, ScalarType.Float16),
            ["scalar"] = torch.tensor(1.0, ScalarType.Float64),
            ["empty"] = torch.zeros(new long[] { 0 }),
        }, new Dictionary<string, string> { ["stage"] = "fuzz" });
        return File.ReadAllBytes(path);
    }

    [Fact]
    public void SafetensorsSurvivesTruncationsFlipsAndBadHeaders()
    {
        using var dir = new TempDir();
        var rng = new Random(20240601);
        var tally = new Tally();
        var cases = 0;
        foreach (var original in new[] { SafetensorsSample(dir), File.ReadAllBytes(Kit.Fixture("independent.safetensors")) })
        {
            var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
            var path = dir.File("fuzz.safetensors");
            void Try(string label, byte[] bytes, bool mustRefuse = false)
            {
                File.WriteAllBytes(path, bytes);
                Attempt(label, path, () => Safetensors.Load(path), tally, mustRefuse);
                cases++;
            }

            for (var len = 0; len < original.Length; len += 3)
                Try($"truncated to {len}", original[..len], mustRefuse: true);
            foreach (var declared in new[] { ulong.MaxValue, 1UL << 63, 1UL << 40, (ulong)SafetensorsHeader.MaxHeaderBytes + 1, (ulong)original.Length, (ulong)n + 1, (ulong)n - 1, 0UL, 1UL })
            {
                var b = (byte[])original.Clone();
                BinaryPrimitives.WriteUInt64LittleEndian(b, declared);
                Try($"header length {declared}", b, mustRefuse: true);
            }
            for (var i = 0; i < 150; i++)
            {
                var b = (byte[])original.Clone();
                for (var k = rng.Next(1, 4); k > 0; k--) b[8 + rng.Next(n)] = (byte)rng.Next(256);
                Try($"header bytes flipped #{i}", b);
            }
            const string json = "{}[]\",:-.0123456789eE aftrulnsdhpo_";
            for (var i = 0; i < 150; i++)
            {
                var b = (byte[])original.Clone();
                for (var k = rng.Next(1, 3); k > 0; k--) b[8 + rng.Next(n)] = (byte)json[rng.Next(json.Length)];
                Try($"header JSON corrupted #{i}", b);
            }
            for (var i = 0; i < 40; i++)
            {
                var b = (byte[])original.Clone();
                b[8 + n + rng.Next(original.Length - 8 - n)] ^= (byte)(1 << rng.Next(8));
                Try($"data bit flipped #{i}", b);
            }
        }
        Assert.True(cases > 700, $"{cases} cases");
        Assert.True(tally.Refused > 500 && tally.Loaded > 10, $"{tally.Refused} refused, {tally.Loaded} loaded");
    }

    // ---- torch.save ----

    [Fact]
    public void TorchSaveReaderSurvivesTruncationsFlipsAndBadPickles()
    {
        using var dir = new TempDir();
        var rng = new Random(20240602);
        var tally = new Tally();
        var cases = 0;
        foreach (var fixture in new[] { "conv_bn.pt", "nested.pt" })
        {
            var original = File.ReadAllBytes(Kit.Fixture(fixture));
            void Try(string label, byte[] bytes, bool mustRefuse = false)
            {
                // Most cases go through memory; every tenth through a file on disk.
                if (cases++ % 10 == 0)
                {
                    var path = dir.File("fuzz.pt");
                    File.WriteAllBytes(path, bytes);
                    Attempt(label, path, () => new Loaded(PtCheckpoint.Load(path).Values), tally, mustRefuse);
                }
                else Attempt(label, "fuzz-input.pt", () => new Loaded(PtCheckpoint.Load(bytes, "fuzz-input.pt").Values), tally, mustRefuse);
            }

            for (var len = 0; len < original.Length; len += 11)
                Try($"{fixture} truncated to {len}", original[..len], mustRefuse: true);
            // Anywhere in the zip: headers, directory, records (the CRC catches flips in records).
            for (var i = 0; i < 150; i++)
            {
                var b = (byte[])original.Clone();
                for (var k = rng.Next(1, 4); k > 0; k--) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                Try($"{fixture} zip bytes changed #{i}", b);
            }
            // Inside data.pkl with the CRC recomputed, so the pickle parser itself sees the damage.
            for (var i = 0; i < 150; i++)
            {
                var seed = rng.Next();
                var b = Kit.WithPickle(original, p => MutatePickle(p, new Random(seed)));
                Try($"{fixture} pickle mutated (seed {seed})", b);
            }
        }
        Assert.True(cases > 700, $"{cases} cases");
        Assert.True(tally.Refused > 500, $"{tally.Refused} refused, {tally.Loaded} loaded");
    }

    const string Opcodes = "()tqhQRbus}]ae.N0K\x85\x86\x87";

    static byte[] MutatePickle(byte[] p, Random rng)
    {
        var b = p.ToList();
        for (var k = rng.Next(1, 4); k > 0 && b.Count > 2; k--)
        {
            var at = rng.Next(2, b.Count); // keep PROTO 2 most of the time
            switch (rng.Next(5))
            {
                case 0: b[at] = (byte)rng.Next(256); break;
                case 1: b[at] ^= (byte)(1 << rng.Next(8)); break;
                case 2: b.RemoveAt(at); break;
                case 3: b.Insert(at, (byte)Opcodes[rng.Next(Opcodes.Length)]); break;
                case 4: b.RemoveRange(at, b.Count - at); break;
            }
        }
        return b.ToArray();
    }
}
