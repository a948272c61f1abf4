using static TorchSharp.torch;

namespace PDiff.Checkpoints;

/// <summary>Byte sizes and PyTorch's spellings of the element types a checkpoint can hold.</summary>
internal static class ElementTypes
{
    /// <summary>Bytes per element; throws for types no checkpoint reader here produces.</summary>
    public static int Size(ScalarType t) => t switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 => 8,
        _ => throw new NotSupportedException($"Element type {Name(t)} cannot be read from or written to a checkpoint here."),
    };

    /// <summary>PyTorch's name (<c>float32</c>, <c>uint8</c>, ...), for messages people compare with Python.</summary>
    public static string Name(ScalarType t) => t switch
    {
        ScalarType.Byte => "uint8",
        ScalarType.ComplexFloat32 => "complex64",
        ScalarType.ComplexFloat64 => "complex128",
        _ => t.ToString().ToLowerInvariant(),
    };
}
