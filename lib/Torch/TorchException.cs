namespace PDiff.Torch;

/// <summary>
/// A libtorch failure surfaced in .NET: names the op, the shapes and dtypes it was given, and
/// libtorch's own message.
/// </summary>
public sealed class TorchException : Exception
{
    public string Op { get; }
    public string NativeMessage { get; }

    public TorchException(string op, string inputs, string nativeMessage)
        : base($"{op}({inputs}) failed: {nativeMessage.Trim()}")
    {
        Op = op;
        NativeMessage = nativeMessage;
    }

    internal static TorchException From(string op, params Tensor?[] inputs) =>
        new(op, string.Join(", ", inputs.Select(Describe)), Native.LastError());

    static string Describe(Tensor? t) => t is null ? "None" : t.IsDisposed ? "<disposed>" : $"{t.dtype.Name()}{ShapeString(t.shape)}";

    internal static string ShapeString(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
