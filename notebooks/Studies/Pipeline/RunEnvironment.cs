using System.Globalization;
using System.Reflection;
using System.Text.Json;
using PDiff.Evaluation;
using PDiff.Storage;
using TorchSharp;

namespace PDiff.Studies;

/// <summary>
/// The machine and software a result was measured on: when, the CPU model (/proc/cpuinfo), cores, torch threads,
/// TorchSharp, libtorch, .NET and OS. Training bits depend on libtorch's kernels and the thread count, so a
/// result is only comparable bit for bit with one made on the same four.
/// </summary>
public sealed record RunEnvironment(string DateUtc, string Cpu, int Cores, int Threads, string TorchSharp, string Libtorch, string Dotnet, string Os)
{
    public const string FileName = "environment.json";

    public static RunEnvironment Capture() => new(
        DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), CpuModel(), Environment.ProcessorCount,
        torch.get_num_threads(),
        typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
            ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "?",
        torch.__version__, Environment.Version.ToString(), Environment.OSVersion.ToString());

    /// <summary>The first "model name" of /proc/cpuinfo (Linux), else the architecture.</summary>
    public static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is var i and > 0)
                        return line[(i + 1)..].Trim();
        }
        catch (IOException) { }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    public void Write(OwnedFolder folder) => new ResultsWriter(folder.Directory, folder).WriteJson(FileName, this);

    /// <summary>Reads environment.json from a results folder; null when there is none.</summary>
    public static RunEnvironment? Read(string dir)
    {
        var path = Path.Combine(dir, FileName);
        return File.Exists(path) ? ResultsWriter.ReadJson<RunEnvironment>(path) : null;
    }

    public override string ToString() =>
        $"{DateUtc}; {Cpu}, {Cores} cores, {Threads} torch threads; TorchSharp {TorchSharp}, libtorch {Libtorch}, .NET {Dotnet}; {Os}";
}
