namespace PDiff.Tests;

/// <summary>How tests start the programs built beside them (pdiff.dll, PDiff.LoadCheck.dll) as child processes.</summary>
public static class TestHost
{
    /// <summary>The same dotnet host as this test run where the SDK says which (dotnet test sets DOTNET_HOST_PATH), else "dotnet".</summary>
    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
}
