namespace PDiff.Torch;

/// <summary>Element types, with libtorch's c10::ScalarType codes.</summary>
public enum ScalarType
{
    UInt8 = 0, Int8 = 1, Int16 = 2, Int32 = 3, Int64 = 4, Float16 = 5, Float32 = 6, Float64 = 7,
    Bool = 11, BFloat16 = 15,
}

public enum DeviceType { CPU = 0, CUDA = 1 }

/// <summary>A device: <c>cpu</c>, or <c>cuda</c>/<c>cuda:N</c> when the libtorch in use has CUDA.</summary>
public readonly record struct Device(DeviceType Type, int Index = -1)
{
    public static readonly Device CPU = new(DeviceType.CPU);
    public static Device CUDA(int index = 0) => new(DeviceType.CUDA, index);

    public static Device Parse(string s)
    {
        var t = s.Trim().ToLowerInvariant();
        if (t == "cpu") return CPU;
        if (t == "cuda") return CUDA();
        if (t.StartsWith("cuda:") && int.TryParse(t.AsSpan(5), System.Globalization.NumberStyles.None, null, out var i)) return CUDA(i);
        throw new ArgumentException($"Unknown device '{s}': use 'cpu', 'cuda' or 'cuda:N'.", nameof(s));
    }

    public override string ToString() => Type == DeviceType.CPU ? "cpu" : Index < 0 ? "cuda" : $"cuda:{Index}";
}

public static class ScalarTypes
{
    public static int ElementSize(this ScalarType t) => t switch
    {
        ScalarType.UInt8 or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool IsFloatingPoint(this ScalarType t) =>
        t is ScalarType.Float16 or ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16;

    /// <summary>PyTorch's spelling, e.g. <c>float32</c>.</summary>
    public static string Name(this ScalarType t) => t.ToString().ToLowerInvariant();

    /// <summary>The element type that holds a .NET primitive; throws for unsupported types.</summary>
    public static ScalarType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? ScalarType.Float32 :
        typeof(T) == typeof(double) ? ScalarType.Float64 :
        typeof(T) == typeof(long) ? ScalarType.Int64 :
        typeof(T) == typeof(int) ? ScalarType.Int32 :
        typeof(T) == typeof(bool) ? ScalarType.Bool :
        typeof(T) == typeof(byte) ? ScalarType.UInt8 :
        typeof(T) == typeof(sbyte) ? ScalarType.Int8 :
        typeof(T) == typeof(short) ? ScalarType.Int16 :
        throw new NotSupportedException($"No tensor element type for .NET type {typeof(T).Name}.");
}

/// <summary>Loss reductions, with libtorch's codes.</summary>
public enum Reduction { None = 0, Mean = 1, Sum = 2 }
