using System.Runtime.CompilerServices;

namespace PDiff.Tests;

/// <summary>
/// The test host is an entry point like the pdiff CLI: it applies the process-wide settings the library
/// leaves to its programs (PDiff.TorchFixes.ProcessSettings), so tests run with the heap the CLI runs with.
/// </summary>
static class ProcessSetup
{
    [ModuleInitializer]
    internal static void Apply() => PDiff.TorchFixes.ProcessSettings.Apply();
}
