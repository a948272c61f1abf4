// The benchmarks time the raw P/Invoke calls too, to separate the wrapper's cost from libtorch's.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("PDiff.Bench")]
