using System.Globalization;
using System.Reflection;

namespace PDiff.Cli;

/// <summary>
/// `pdiff &lt;command&gt; [args]`: dispatches args[0] to the <see cref="ICommand"/> of that name. The command
/// table is built from the assembly's ICommand implementations, so helpers add subcommands in their own
/// files (Commands/*.cs) without editing this one.
/// </summary>
public static class Program
{
    public static IReadOnlyList<ICommand> Commands { get; } = typeof(Program).Assembly.GetTypes()
        .Where(t => typeof(ICommand).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false, IsPublic: true }
                    && t.GetConstructor(Type.EmptyTypes) != null)
        .Select(t => (ICommand)Activator.CreateInstance(t)!)
        .OrderBy(c => c.Name, StringComparer.Ordinal)
        .ToArray();

    public static int Main(string[] args)
    {
        // Numbers in logs, notebooks and result files never depend on the machine's locale.
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;

        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Out.Write(GeneralUsage());
            return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }
        if (args[0] == "--version")
        {
            Console.Out.WriteLine(typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?");
            return ExitCodes.Ok;
        }
        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command == null)
        {
            Console.Error.WriteLine($"pdiff: unknown command '{args[0]}'.");
            Console.Error.Write(GeneralUsage());
            return ExitCodes.Usage;
        }
        var rest = args[1..];
        if (rest.Length > 0 && rest[0] is "-h" or "--help")
        {
            Console.Out.Write(command.Usage);
            return ExitCodes.Ok;
        }
        try
        {
            return command.Run(rest);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"pdiff {command.Name}: {e.Message}");
            Console.Error.Write(command.Usage);
            return ExitCodes.Usage;
        }
    }

    public static string GeneralUsage()
    {
        var width = Commands.Select(c => c.Name.Length).DefaultIfEmpty(0).Max();
        return "usage: pdiff <command> [arguments]   (pdiff <command> --help for details)\n\ncommands:\n" +
               string.Concat(Commands.Select(c => $"  {c.Name.PadRight(width)}  {c.Summary}\n"));
    }
}
