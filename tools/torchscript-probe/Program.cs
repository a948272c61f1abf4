using System.Runtime.InteropServices;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace PDiff.TorchScriptProbe;

/// <summary>
/// <c>dotnet PDiff.TorchScriptProbe.dll [C,H,W] &lt; model.pt</c>: loads the TorchScript archive read from stdin
/// with libtorch, as PDiff.Lib is about to, and reports what it found. lib/Models/TorchScriptProbe.cs starts it
/// before the archive is loaded in the caller's process: libtorch ends the process on some damaged archives
/// (an exception thrown where nothing catches it: abort; a parser recursing on deeply nested code: a stack
/// overflow), and here that costs nothing but this process.
/// <para>
/// stdout, one JSON object a line: <c>{"stage":"load"}</c>, <c>{"stage":"tensors"}</c> and <c>{"stage":"forward"}</c> before each risky step
/// (the caller names the step a crash happened in), then <c>{"result":"ok",...}</c> (exit 0) or
/// <c>{"result":"error",...}</c> when libtorch refused the archive with an exception or a tensor reaches
/// outside its storage (exit 3). Exit 4: this
/// process could not start libtorch at all (not the archive's fault). Any other end is a crash.
/// </para>
/// </summary>
internal static class Program
{
    // Load and forward run on a thread with a smaller stack than the caller's (it loads on 16 MB and runs
    // forward on threads of at least 1.5 MB), so an archive whose nesting this stack survives is safe there.
    const int StackBytes = 1 << 20;

    static int Main(string[] args)
    {
        NoCoreDump();
        try
        {
            long[]? shape = args.Length > 0 ? args[0].Split(',').Select(long.Parse).ToArray() : null;
            using var input = new MemoryStream();
            Console.OpenStandardInput().CopyTo(input);
            var bytes = input.ToArray();
            torch.set_num_threads(1);
            var code = 4;
            var thread = new Thread(() => code = Probe(bytes, shape), StackBytes);
            thread.Start();
            thread.Join();
            return code;
        }
        catch (Exception e)
        {
            Write(new { result = "unavailable", message = $"{e.GetType().Name}: {e.Message}" });
            return 4;
        }
    }

    static int Probe(byte[] bytes, long[]? shape)
    {
        jit.ScriptModule script;
        Write(new { stage = "load" });
        try
        {
            script = jit.load(bytes, CPU);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or DllNotFoundException or TypeInitializationException))
        {
            Write(new { result = "error", stage = "load", message = e.Message });
            return 3;
        }
        using (script)
        {
            try { return Inspect(script, shape); }
            catch (Exception e) when (e is not (OutOfMemoryException or DllNotFoundException or TypeInitializationException))
            {
                Write(new { result = "error", stage = "inspect", message = e.Message });
                return 3;
            }
        }
    }

    static int Inspect(jit.ScriptModule script, long[]? shape)
    {
        // libtorch builds the archive's tensors from the sizes and strides its pickle states without checking
        // them against their storages: one reaching past its storage would read (or write) foreign memory
        // the first time it is used. as_strided checks exactly that, without touching the data.
        Write(new { stage = "tensors" });
        foreach (var (name, t) in script.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(script.named_buffers()))
        {
            try
            {
                using var view = t.as_strided(t.shape, t.stride(), t.storage_offset());
            }
            catch (Exception e) when (e is not (OutOfMemoryException or DllNotFoundException or TypeInitializationException))
            {
                Write(new { result = "error", stage = "tensors", message = $"tensor '{name}' reaches outside its storage: {e.Message}" });
                return 3;
            }
        }
        var inputs = script.GetNumberOfInputs();
        string? forwardError = null;
        long[]? output = null;
        if (inputs == 1 && shape is not null)
        {
            Write(new { stage = "forward" });
            try
            {
                // Three calls: libtorch's profiling executor optimises the graph on a later call, which is
                // the next place a nested program could recurse.
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var batch = zeros(new long[] { 2 }.Concat(shape).ToArray());
                for (var i = 0; i < 3; i++)
                {
                    if (script.call(batch) is not Tensor y) throw new InvalidCastException("forward() returned something other than one tensor.");
                    output = y.shape;
                }
            }
            catch (Exception e) when (e is not (OutOfMemoryException or DllNotFoundException or TypeInitializationException))
            {
                forwardError = e.Message;
            }
        }
        Write(new
        {
            result = "ok",
            inputs,
            parameters = script.named_parameters().Select(p => Describe(p.name, p.parameter)).ToList(),
            buffers = script.named_buffers().Select(b => Describe(b.name, b.buffer)).ToList(),
            forwardError,
            output,
        });
        return 0;
    }

    // A crash here is an expected outcome, reported by the caller: it must not also leave a core file (of a
    // process holding all of libtorch) wherever the system's core pattern points.
    static void NoCoreDump()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var none = new RLimit();
        try { _ = setrlimit(4 /* RLIMIT_CORE on Linux and macOS */, ref none); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { } // a core file is untidy, not wrong
    }

    [StructLayout(LayoutKind.Sequential)]
    struct RLimit
    {
        public ulong Current, Maximum;
    }

    [DllImport("libc", SetLastError = true)]
    static extern int setrlimit(int resource, ref RLimit limit);

    static object Describe(string name, Tensor t) => new { name, shape = t.shape, dtype = t.dtype.ToString() };

    static void Write(object line)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(line));
        Console.Out.Flush();
    }
}
