using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using PDiff.Cli.Commands;

namespace PDiff.Cli;

/// <summary>
/// `pdiff &lt;command&gt; [args]`: dispatches args[0] to the <see cref="ICommand"/> of that name. The command
/// table is built from the assembly's ICommand implementations, so helpers add subcommands in their own
/// files (Commands/*.cs) without editing this one.
/// <para>
/// One error path for every command: nothing escapes <see cref="Main"/>. A <see cref="UsageException"/>
/// exits 2 with its message and a pointer to --help; a refused place to write (a folder or file that is not
/// pdiff's, <see cref="Commands.CliErrors.IsRefusedPlace"/>) exits 2 with its message alone; any other exception
/// exits 1 with one line (user errors: the message; a failed allocation: "out of memory while …" with the fix;
/// anything else: "internal error: type: message"). Only a message's first meaningful line is printed (libtorch's
/// carry a C++ backtrace); the rest and the stack trace only with --verbose, which every command accepts.
/// `--help`/`-h` anywhere after a command or subcommand prints its usage and exits 0.
/// </para>
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
        var verbose = args.Contains("--verbose");
        var where = "pdiff";
        try
        {
            // Numbers in logs, notebooks and result files never depend on the machine's locale.
            CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
            CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
            args = args.Where(a => a != "--verbose").ToArray();

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
                Console.Error.WriteLine($"pdiff: unknown command '{args[0]}' (commands: {string.Join(", ", Commands.Select(c => c.Name))}; pdiff --help lists them).");
                return ExitCodes.Usage;
            }
            // `notebook` runs the kernel in this process, and the kernel must be the one to load PDiff.Lib (its module
            // initializer registers the kernel's formatters); the notebooks' first cell applies the settings there.
            if (command.Name != "notebook") PrepareProcess();
            var rest = args[1..];
            var sub = rest.Length > 0 && command.Subcommands.Contains(rest[0]) ? rest[0] : null;
            where = sub is null ? $"pdiff {command.Name}" : $"pdiff {command.Name} {sub}";
            if (rest.Any(a => a is "-h" or "--help"))
            {
                Console.Out.Write(sub is null ? command.Usage : command.UsageOf(sub));
                return ExitCodes.Ok;
            }
            return command.Run(rest);
        }
        catch (Exception e)
        {
            return ReportError(where, e, verbose);
        }
    }

    /// <summary>
    /// What the program, not the library, sets for the whole process before a command that runs the library here:
    /// malloc keeps freed pages (<see cref="PDiff.TorchFixes.ProcessSettings"/>); and, where this process's float32
    /// convolutions are wrong (<see cref="PDiff.TorchFixes.ConvCheck"/>), one <c>pdiff: note:</c> line on stderr says so and
    /// what p-diff does about it, once per process, when the first convolution that needs the verdict runs: commands
    /// that run none (help, usage errors, zoo info) never print it; a job that fails after it prints the note and
    /// its one error line. Kept out of <see cref="Main"/> (no inlining) so that compiling Main loads no PDiff.Lib type.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static void PrepareProcess()
    {
        PDiff.TorchFixes.ProcessSettings.Apply();
        PDiff.TorchFixes.ConvCheck.WrongKernelsFound += line => Console.Error.WriteLine($"pdiff: note: {line}");
    }

    /// <summary>
    /// The one place errors become output and exit codes (see the class summary): <paramref name="where"/> is
    /// the command ("pdiff zoo build"), <paramref name="verbose"/> adds the stack trace.
    /// </summary>
    public static int ReportError(string where, Exception e, bool verbose)
    {
        e = Unwrap(e);
        try
        {
            if (e is UsageException)
            {
                Console.Error.WriteLine($"{where}: {e.Message}");
                Console.Error.WriteLine($"{where} --help shows the usage.");
                return ExitCodes.Usage;
            }
            if (CliErrors.IsRefusedPlace(e))
            {
                Console.Error.WriteLine($"{where}: {CliErrors.FirstLine(e.Message).Line}");
                if (verbose) Console.Error.WriteLine(e.ToString());
                return ExitCodes.Usage;
            }
            var (line, more) = CliErrors.FirstLine(e.Message);
            var rest = verbose || !more ? "" : " (--verbose shows the rest)";
            if (CliErrors.IsOutOfMemory(e))
                Console.Error.WriteLine($"{where}: out of memory while {CliErrors.Stage(where)}: {line} — {CliErrors.OutOfMemoryFix(where)}" +
                                        (verbose ? "" : " (--verbose shows libtorch's whole message)"));
            else
                Console.Error.WriteLine(CliErrors.IsUserError(e)
                    ? $"{where}: {line}{rest}"
                    : $"{where}: internal error: {e.GetType().FullName}: {line}" + (verbose ? "" : " (run with --verbose for the stack trace)"));
            if (verbose) Console.Error.WriteLine(e.ToString());
        }
        catch (Exception)
        {
            // Not even stderr works (closed pipe): the exit code still says what happened.
        }
        return e is UsageException || CliErrors.IsRefusedPlace(e) ? ExitCodes.Usage : ExitCodes.Failed;
    }

    static Exception Unwrap(Exception e)
    {
        while (true)
        {
            switch (e)
            {
                case TargetInvocationException { InnerException: { } i }: e = i; continue;
                case TypeInitializationException { InnerException: { } i }: e = i; continue;
                case AggregateException a when a.InnerExceptions.Count == 1: e = a.InnerExceptions[0]; continue;
                default: return e;
            }
        }
    }

    public static string GeneralUsage()
    {
        var width = Commands.Select(c => c.Name.Length).DefaultIfEmpty(0).Max();
        return "usage: pdiff <command> [arguments] [--verbose]   (pdiff <command> --help for details)\n\ncommands:\n" +
               string.Concat(Commands.Select(c => $"  {c.Name.PadRight(width)}  {c.Summary}\n")) +
               "\nexit codes: 0 done, 1 the job failed, 2 bad command line (nothing was done). --verbose adds stack traces to errors.\n";
    }
}
