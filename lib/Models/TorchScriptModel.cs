using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PDiff.Models;

/// <summary>
/// A user's own architecture, brought in as TorchScript: the file PyTorch writes with
/// <c>torch.jit.script(model).save("model.pt")</c> (or <c>torch.jit.trace(model, example).save(...)</c>).
/// It behaves like our other models: <see cref="nn.Module.named_parameters"/>, <see cref="nn.Module.named_buffers"/>
/// and <see cref="nn.Module.state_dict"/> answer with PyTorch's names ("conv1.weight", "bn2.running_mean"),
/// and those tensors are the script's own, so writing into them under <c>torch.no_grad()</c> changes what
/// <see cref="forward"/> computes. That is all p-diff needs: it reads and writes a subset of parameters by
/// name and scores the model. <see cref="train"/>/<see cref="eval"/> switch the script and all its submodules.
/// The archive keeps the mode it was saved in (usually eval), as <c>torch.jit.load</c> does.
/// Every failure (missing file, a file that is not TorchScript, an input the model refuses) is a .NET
/// exception that names the file and the fix. That includes the archives on which libtorch ends the process
/// (abort, stack overflow): <see cref="Load"/> has a child process load each archive first (<see cref="TorchScriptProbe"/>).
/// </summary>
public sealed class TorchScriptModel : nn.Module<Tensor, Tensor>
{
    /// <summary>The loaded script; its parameters and buffers are the ones registered here.</summary>
    public jit.ScriptModule<Tensor, Tensor> Script { get; }

    /// <summary>The file it came from, as given to <see cref="Load"/>.</summary>
    public string SourcePath { get; }

    /// <summary>
    /// The shape of one input sample without the batch dimension (e.g. [1, 28, 28]) when the caller
    /// declared it: then <see cref="forward"/> checks it before the script runs. Null: the script decides.
    /// </summary>
    public long[]? InputShape { get; }

    TorchScriptModel(jit.ScriptModule<Tensor, Tensor> script, string path, long[]? inputShape) : base(nameof(TorchScriptModel))
    {
        Script = script;
        SourcePath = path;
        InputShape = inputShape;
        // The script's tensors themselves, under their full dotted names: no "script." prefix, no copies.
        foreach (var (name, p) in script.named_parameters()) register_parameter(name, p);
        foreach (var (name, b) in script.named_buffers()) register_buffer(name, b);
        base.train(script.training);
    }

    /// <summary>
    /// Loads a TorchScript archive onto <paramref name="device"/> (CPU when null).
    /// <paramref name="inputShape"/>: optional per-sample input shape that <see cref="forward"/> enforces.
    /// The archive is checked by <see cref="Validate"/> first (a child process loads it before this one does).
    /// </summary>
    public static TorchScriptModel Load(string path, Device? device = null, long[]? inputShape = null)
    {
        var bytes = ReadChecked(path, inputShape);
        Validate(path, bytes, inputShape);

        jit.ScriptModule<Tensor, Tensor>? script = null;
        Exception? failure = null;
        // A thread with a larger stack than the probe's: an archive the probe loaded cannot overflow this one.
        var loader = new Thread(() =>
        {
            try { script = jit.load<Tensor, Tensor>(bytes, device ?? CPU); }
            catch (Exception e) { failure = e; }
        }, 16 << 20);
        loader.Start();
        loader.Join();
        if (failure is ExternalException or InvalidOperationException or ArgumentException)
            throw new InvalidDataException($"libtorch could not load TorchScript model '{path}': {TorchScriptProbe.Sanitize(Essence(failure.Message))} " +
                $"The file may be damaged or written by a PyTorch newer than libtorch {torch.__version__}. To fix: {ExportHint}", failure);
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        var inputs = script!.GetNumberOfInputs();
        if (inputs != 1)
        {
            script.Dispose();
            throw TwoInputs(path, inputs);
        }
        return new TorchScriptModel(script, path, inputShape?.ToArray());
    }

    /// <summary>
    /// Everything <see cref="Load"/> checks before it loads the archive in this process, without loading it here:
    /// the file is a TorchScript zip (read by .NET: directory, names, sizes), a child process loads it with
    /// libtorch and, given <paramref name="inputShape"/>, runs forward on a batch of two zero inputs; forward
    /// takes one input and, on that batch, returns a tensor. Throws <see cref="InvalidDataException"/> (or
    /// <see cref="FileNotFoundException"/>) naming the file and the fix; returns what the child found. A tool
    /// calls this before it creates or claims an output folder, so a refused file leaves nothing behind.
    /// </summary>
    public static TorchScriptReport Validate(string path, long[]? inputShape = null) => Validate(path, ReadChecked(path, inputShape), inputShape);

    static TorchScriptReport Validate(string path, byte[] bytes, long[]? inputShape)
    {
        var report = TorchScriptProbe.Check(path, bytes, inputShape);
        if (report.Inputs != 1) throw TwoInputs(path, report.Inputs);
        if (report.ForwardError is { } error)
            throw new InvalidDataException($"TorchScript model '{path}' fails on a batch of zeros [2, {string.Join(", ", inputShape!)}] (float32, CPU): " +
                $"{TorchScriptProbe.Sanitize(Essence(error))} PDiff calls forward(x) with image batches of that shape and expects logits [batch, classes]. " +
                "To fix: export a network whose forward takes [batch, C, H, W] images and returns one tensor, or set the input shape " +
                "(ModelSpec.InChannels, ImageSize) to the network's.");
        return report;
    }

    static InvalidDataException TwoInputs(string path, long inputs) =>
        new($"TorchScript model '{path}' has forward() with {inputs} inputs; PDiff calls models with one " +
            "batch tensor. To fix: wrap the model in Python in an nn.Module whose forward(x) takes the batch, and script that.");

    /// <summary>The checks .NET can make on its own, then the file's bytes (probed and loaded from memory: one content for both).</summary>
    static byte[] ReadChecked(string path, long[]? inputShape)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new FileNotFoundException($"'{path}' is a directory, not a TorchScript file. {ExportHint}", path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"TorchScript model '{path}' does not exist. {ExportHint}", path);
        if (inputShape is { } s && (s.Length == 0 || s.Any(d => d <= 0)))
            throw new ArgumentException($"inputShape [{string.Join(", ", s)}] must list positive per-sample sizes, e.g. [1, 28, 28].", nameof(inputShape));

        var length = new FileInfo(path).Length;
        if (length > Array.MaxLength)
            throw new InvalidDataException($"TorchScript model '{path}' holds {length} bytes; PDiff reads TorchScript files of up to {Array.MaxLength} bytes.");
        var bytes = File.ReadAllBytes(path);
        var notScript = TorchScriptArchive.WhyNot(bytes);
        if (notScript != null) throw new InvalidDataException($"'{path}' is not a TorchScript archive: {notScript} To fix: {ExportHint}");
        return bytes;
    }

    internal const string ExportHint =
        "Export the model in Python with `torch.jit.script(model).save(\"model.pt\")` (torch.save(model.state_dict()) stores weights only, not the architecture).";

    public override Tensor forward(Tensor input)
    {
        if (InputShape is { } expected && (input.dim() != expected.Length + 1 || !input.shape.Skip(1).SequenceEqual(expected)))
            throw new ArgumentException(
                $"TorchScript model '{SourcePath}' expects input [batch, {string.Join(", ", expected)}], got [{string.Join(", ", input.shape)}]. " +
                "Reshape the batch (e.g. images as [N, C, H, W]) before calling forward.", nameof(input));
        try
        {
            return Script.forward(input);
        }
        catch (Exception e) when (e is ExternalException or InvalidOperationException or ArgumentException)
        {
            throw new ArgumentException(
                $"TorchScript model '{SourcePath}' rejected an input of shape [{string.Join(", ", input.shape)}] ({input.dtype}, {input.device}): " +
                $"{Essence(e.Message)} Pass a batch with the shape, dtype and device the model was exported for " +
                "(after model.to(dtype/device), inputs must follow).", nameof(input), e);
        }
        catch (InvalidCastException e)
        {
            throw new InvalidOperationException(
                $"TorchScript model '{SourcePath}' returned something other than one tensor from forward(). PDiff expects logits " +
                "[batch, classes]: wrap the model in Python so forward returns a single tensor, and script that.", e);
        }
    }

    // libtorch's own to() converts the script's tensors in place (set_data), so the Parameter objects
    // registered here stay the script's; the base implementation would replace them with copies.
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        Script.to(device, dtype, non_blocking);
        return this;
    }

    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        Script.to(deviceType, deviceIndex, non_blocking);
        return this;
    }

    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        Script.to(dtype, non_blocking);
        return this;
    }

    public override void train(bool train = true)
    {
        Script.train(train);
        base.train(train);
    }

    public override void eval() => train(false);

    public override bool training => Script.training;

    /// <summary>
    /// Copies <paramref name="tensors"/> (PyTorch names → values, e.g. a subset checkpoint) into the
    /// model's parameters and buffers, in place and without autograd. Unknown names, shapes that differ
    /// and, when <paramref name="strict"/>, names the source lacks are errors listing what the model has.
    /// Returns the names that were written.
    /// </summary>
    public IReadOnlyList<string> Assign(IEnumerable<KeyValuePair<string, Tensor>> tensors, bool strict = false)
    {
        var targets = new Dictionary<string, Tensor>();
        foreach (var (n, p) in named_parameters()) targets[n] = p;
        foreach (var (n, b) in named_buffers()) targets[n] = b;
        var source = tensors.ToList();

        var unknown = source.Select(kv => kv.Key).Where(k => !targets.ContainsKey(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"TorchScript model '{SourcePath}' has no parameter or buffer named {string.Join(", ", unknown.Select(u => $"'{u}'"))}; " +
                $"it has: {string.Join(", ", targets.Keys)}.", nameof(tensors));
        foreach (var (name, value) in source)
        {
            if (!targets[name].shape.SequenceEqual(value.shape))
                throw new ArgumentException($"'{name}' of TorchScript model '{SourcePath}' has shape [{string.Join(", ", targets[name].shape)}], " +
                    $"the value given has [{string.Join(", ", value.shape)}].", nameof(tensors));
        }
        if (strict)
        {
            var given = source.Select(kv => kv.Key).ToHashSet();
            var missing = targets.Keys.Where(k => !given.Contains(k)).ToList();
            if (missing.Count > 0)
                throw new ArgumentException($"strict: the values for TorchScript model '{SourcePath}' lack {string.Join(", ", missing)}.", nameof(tensors));
        }

        using (no_grad())
        {
            foreach (var (name, value) in source) targets[name].copy_(value);
        }
        return source.Select(kv => kv.Key).ToList();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Script.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>
    /// The informative line of a libtorch message: for an error inside the TorchScript interpreter the
    /// last line ("RuntimeError: Given groups=1, weight of size …"), after two tracebacks; else the first.
    /// </summary>
    internal static string Essence(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length == 0) return "(no message)";
        var line = message.Contains("Traceback of TorchScript", StringComparison.Ordinal) ? lines[^1] : lines[0];
        return line.EndsWith('.') ? line : line + ".";
    }
}
