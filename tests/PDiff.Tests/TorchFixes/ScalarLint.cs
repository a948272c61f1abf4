using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PDiff.Tests.TorchFixes;

/// <summary>
/// Finds, with the C# compiler's semantic model, the code that makes a TorchSharp <c>Scalar</c> nobody
/// disposes: a user-defined conversion to Scalar (<c>t.mul(0.5)</c>, <c>(Scalar)x</c>) outside a <c>using</c>
/// or <c>static readonly</c> initializer, a Scalar-returning call (<c>x.ToScalar()</c>) outside a <c>using</c>,
/// a call of TorchSharp's optimizer steps (<c>optim.Optimizer.step</c>, virtual, so named here), and a call of
/// any TorchSharp method that makes a Scalar inside and disposes none (<c>t.add(u)</c>, <c>t * 2</c>,
/// <c>t.ToDouble()</c>; found in TorchSharp's IL). TorchSharp 0.107 frees such a Scalar only by its finalizer
/// and passes its handle to native code without keeping it alive, so a collection started by another thread
/// can free it mid-call (docs/design-notes.md, "Scalars and the garbage collector"). Not seen: a leaking
/// <c>forward</c> reached through virtual dispatch (a TorchSharp module inside a <c>Sequential</c>).
/// </summary>
public static class ScalarLint
{
    /// <summary>One finding: the file (as given), 1-based line, what was found and the code.</summary>
    public sealed record Finding(string File, int Line, string Kind, string Code)
    {
        public override string ToString() => $"{File}:{Line}: {Kind}: {Code}";
    }

    /// <summary>
    /// Compiles <paramref name="sources"/> (path → text) as one library against PDiff.Lib's references
    /// (TorchSharp and the rest, found from the built PDiff.Lib.dll) and returns the findings, or throws
    /// when the code does not compile.
    /// </summary>
    public static IReadOnlyList<Finding> Analyze(IEnumerable<KeyValuePair<string, string>> sources)
    {
        var compilation = Compile(sources);
        var trees = compilation.SyntaxTrees;
        var scalar = compilation.GetTypeByMetadataName("TorchSharp.Scalar") ?? throw new InvalidOperationException("TorchSharp.Scalar not found among the references.");
        var optimizer = compilation.GetTypeByMetadataName("TorchSharp.torch+optim+Optimizer") ?? throw new InvalidOperationException("torch.optim.Optimizer not found among the references.");
        var findings = new List<Finding>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            // Checked tree by tree with the model that is walked next (it keeps what it bound): a semantic
            // model of code that does not compile could miss conversions.
            var errors = model.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Take(10).ToList();
            if (errors.Count > 0)
                throw new InvalidOperationException($"ScalarLint: {tree.FilePath} does not compile here, so the analysis would be incomplete:\n" + string.Join("\n", errors));
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                if (node.Parent is MemberAccessExpressionSyntax access && access.Name == node) continue;   // the access itself is looked at
                string? kind = node switch
                {
                    ExpressionSyntax e when ConvertsToScalar(model, e, scalar) && !IsUsingInitializer(e) && !IsStaticReadonlyInitializer(model, e) => "conversion to Scalar, never disposed",
                    InvocationExpressionSyntax i when ReturnsScalar(model, i, scalar) && !IsUsingInitializer(i) => "Scalar made by a call, never disposed",
                    InvocationExpressionSyntax i when IsOptimizerStep(model, i, optimizer) => "TorchSharp optimizer step (implicit Scalars inside; use OptimizerSteps.Step)",
                    InvocationExpressionSyntax or ObjectCreationExpressionSyntax or BinaryExpressionSyntax or PrefixUnaryExpressionSyntax
                        when model.GetSymbolInfo(node).Symbol is IMethodSymbol m && LeakingTorchSharpMethods().Contains(Key(m)) => "TorchSharp call that leaves a Scalar of its own to the finalizer",
                    _ => null,
                };
                if (kind is null) continue;
                var line = node.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
                findings.Add(new Finding(tree.FilePath, line, kind, node.ToString()));
            }
        }
        return findings;
    }

    /// <summary>A user-defined conversion (implicit or a cast) whose operator belongs to Scalar.</summary>
    static bool ConvertsToScalar(SemanticModel model, ExpressionSyntax e, INamedTypeSymbol scalar)
    {
        var conversion = model.GetConversion(e);
        if (conversion.IsUserDefined && IsScalarOperator(conversion.MethodSymbol, scalar)) return true;
        return e is CastExpressionSyntax && model.GetSymbolInfo(e).Symbol is IMethodSymbol { MethodKind: MethodKind.Conversion } m && IsScalarOperator(m, scalar);
    }

    /// <summary><c>using Scalar s = 0.5;</c> (a declaration or a using statement): disposed when the block ends.</summary>
    static bool IsUsingInitializer(ExpressionSyntax e) =>
        e.Parent is EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax { Parent: VariableDeclarationSyntax declaration } }
        && declaration.Parent is LocalDeclarationStatementSyntax { UsingKeyword.RawKind: (int)SyntaxKind.UsingKeyword } or UsingStatementSyntax;

    /// <summary><c>static readonly Scalar One = 1;</c>: always reachable, so never finalized.</summary>
    static bool IsStaticReadonlyInitializer(SemanticModel model, ExpressionSyntax e) =>
        e.Parent is EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax declarator }
        && model.GetDeclaredSymbol(declarator) is IFieldSymbol { IsStatic: true, IsReadOnly: true };

    static bool IsScalarOperator(IMethodSymbol? m, INamedTypeSymbol scalar) =>
        m is not null && (SymbolEqualityComparer.Default.Equals(m.ContainingType, scalar) || SymbolEqualityComparer.Default.Equals(m.ReturnType, scalar));

    /// <summary><c>f(x.ToScalar())</c>, <c>t.ToScalar().ToDouble()</c>: a Scalar that only a <c>using</c> would dispose.</summary>
    static bool ReturnsScalar(SemanticModel model, InvocationExpressionSyntax i, INamedTypeSymbol scalar) =>
        model.GetSymbolInfo(i).Symbol is IMethodSymbol m && SymbolEqualityComparer.Default.Equals(m.ReturnType, scalar);

    static bool IsOptimizerStep(SemanticModel model, InvocationExpressionSyntax i, INamedTypeSymbol optimizer)
    {
        if (model.GetSymbolInfo(i).Symbol is not IMethodSymbol { Name: "step" } m) return false;
        for (var t = m.ContainingType; t is not null; t = t.BaseType)
            if (SymbolEqualityComparer.Default.Equals(t, optimizer)) return true;
        return false;
    }

    /// <summary>
    /// TorchSharp's methods that make a Scalar inside and do not dispose it (<c>Tensor.ToDouble()</c> is
    /// <c>ToScalar().ToDouble()</c>), or call one that does, found in TorchSharp.dll's IL: keys as
    /// <see cref="Key(IMethodSymbol)"/> writes them. A method that makes a Scalar and calls some Dispose counts
    /// as disposing it; one that returns a Scalar hands it to its caller.
    /// </summary>
    public static IReadOnlySet<string> LeakingTorchSharpMethods() => Leaking.Value;

    static readonly Lazy<IReadOnlySet<string>> Leaking = new(() =>
    {
        var scalarType = typeof(TorchSharp.Scalar);
        var methods = scalarType.Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly).Cast<MethodBase>()
                .Concat(t.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)))
            .ToList();
        var callees = new Dictionary<MethodBase, List<MethodBase>>();
        var leaking = new HashSet<MethodBase>();
        foreach (var m in methods)
        {
            var called = Callees(m);
            callees[m] = called;
            var makes = called.Any(c => c is MethodInfo mi && mi.ReturnType == scalarType || c is ConstructorInfo && c.DeclaringType == scalarType);
            var disposes = called.Any(c => c.Name == "Dispose");
            var hands = m is MethodInfo r && r.ReturnType == scalarType;
            if (makes && !disposes && !hands && m.DeclaringType != scalarType) leaking.Add(m);
        }
        // A caller of a leaking method leaks too (lambdas and overloads that forward).
        for (var grew = true; grew;)
        {
            grew = false;
            foreach (var (m, called) in callees)
                if (!leaking.Contains(m) && called.Any(leaking.Contains) && !(m is MethodInfo r && r.ReturnType == scalarType))
                    grew |= leaking.Add(m);
        }
        return leaking.Where(m => m.IsPublic).Select(Key).Where(k => !NotOnOurPath.ContainsKey(k)).ToHashSet();
    });

    /// <summary>
    /// TorchSharp methods that make a Scalar only on a path our calls never take, with the reason. The IL
    /// analysis does not follow branches, so it cannot tell.
    /// </summary>
    static readonly Dictionary<string, string> NotOnOurPath = new()
    {
        // ScriptModule.call makes Scalars for number arguments and number results (DetermineArgumentTypeRefs,
        // ProcessReturnValue); TorchScriptModel passes one tensor and takes one tensor back.
        ["TorchSharp.torch+jit+ScriptModule`2::forward(T)"] = "tensor in, tensor out",
        ["TorchSharp.torch+jit+ScriptModule`2::call(T)"] = "tensor in, tensor out",
    };

    static readonly Dictionary<short, System.Reflection.Emit.OpCode> OpCodes = typeof(System.Reflection.Emit.OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (System.Reflection.Emit.OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The methods <paramref name="m"/> calls, creates with or takes the address of (a lambda's body).</summary>
    static List<MethodBase> Callees(MethodBase m)
    {
        var result = new List<MethodBase>();
        byte[]? il;
        try { il = m.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception) { return result; }
        if (il is null) return result;
        var typeArgs = m.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        var methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE && i + 1 < il.Length ? (short)(0xFE00 | il[i + 1]) : il[i];
            if (!OpCodes.TryGetValue(value, out var op)) break;   // not IL we know: stop rather than misread
            i += op.Size;
            var operand = op.OperandType switch
            {
                System.Reflection.Emit.OperandType.InlineNone => 0,
                System.Reflection.Emit.OperandType.ShortInlineBrTarget or System.Reflection.Emit.OperandType.ShortInlineI or System.Reflection.Emit.OperandType.ShortInlineVar => 1,
                System.Reflection.Emit.OperandType.InlineVar => 2,
                System.Reflection.Emit.OperandType.InlineI8 or System.Reflection.Emit.OperandType.InlineR => 8,
                System.Reflection.Emit.OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            if (op.OperandType == System.Reflection.Emit.OperandType.InlineMethod)
            {
                try
                {
                    if (m.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs) is { } target)
                        result.Add(target is MethodInfo { IsGenericMethod: true } g && !g.IsGenericMethodDefinition ? g.GetGenericMethodDefinition() : target);
                }
                catch (Exception) { }   // a method of an assembly not loaded here
            }
            i += operand;
        }
        return result;
    }

    static string Key(MethodBase m) =>
        $"{m.DeclaringType?.FullName?.Split('[')[0]}::{m.Name}({string.Join(",", m.GetParameters().Select(p => p.ParameterType.Name))})";

    /// <summary>The same key for a method the compiler bound (an extension method as declared, with its <c>this</c>).</summary>
    static string Key(IMethodSymbol m)
    {
        m = m.ReducedFrom ?? m;
        m = m.OriginalDefinition;
        var type = m.ContainingType;
        var names = new List<string>();
        for (var t = type; t is not null; t = t.ContainingType) names.Insert(0, t.MetadataName);
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() + "." : "";
        return $"{ns}{string.Join("+", names)}::{m.MetadataName}({string.Join(",", m.Parameters.Select(p => TypeName(p.Type) + (p.RefKind == RefKind.None ? "" : "&")))})";
    }

    static string TypeName(ITypeSymbol t) => t switch
    {
        IArrayTypeSymbol a => TypeName(a.ElementType) + (a.Rank == 1 ? "[]" : $"[{new string(',', a.Rank - 1)}]"),
        IPointerTypeSymbol p => TypeName(p.PointedAtType) + "*",
        _ => t.MetadataName,
    };

    /// <summary>
    /// Every .cs file of the library (lib/) and of the studies beside the notebooks (notebooks/Studies/), keyed by its path
    /// relative to the repository root: both run tensors for a user.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> LibrarySources() => SourcesUnder("lib", "notebooks/Studies");

    /// <summary>
    /// Every .cs file under the given folders (relative to the repository root), their build output (bin/, obj/) left
    /// out, in path order, keyed by the path relative to the root with forward slashes.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> SourcesUnder(params string[] folders)
    {
        var root = RepoRoot();
        return folders.Select(f => Path.Combine(root, f))
            .SelectMany(dir => Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
                .Where(f => Path.GetRelativePath(dir, f).Split(Path.DirectorySeparatorChar)[0] is not ("bin" or "obj")))
            .Order(StringComparer.Ordinal)
            .Select(f => KeyValuePair.Create(Path.GetRelativePath(root, f).Replace('\\', '/'), File.ReadAllText(f)));
    }

    public static string RepoRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    /// <summary>
    /// <paramref name="sources"/> (path → text) as one library against PDiff.Lib's references, with the SDK's implicit
    /// usings (ImplicitUsings=enable in PDiff.Lib.csproj) as a last tree named GlobalUsings.g.cs. Not checked for errors.
    /// </summary>
    public static CSharpCompilation Compile(IEnumerable<KeyValuePair<string, string>> sources)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = sources.Select(kv => CSharpSyntaxTree.ParseText(kv.Value, parse, kv.Key)).ToList();
        trees.Add(CSharpSyntaxTree.ParseText(
            "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
            "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;", parse, "GlobalUsings.g.cs"));
        return CSharpCompilation.Create("PDiffSources", trees, References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Disable));
    }

    /// <summary>The framework's assemblies, then PDiff.Lib's references and theirs, from the built files beside the tests.</summary>
    static readonly Lazy<IReadOnlyList<MetadataReference>> References = new(() =>
    {
        var paths = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
            paths.TryAdd(Path.GetFileNameWithoutExtension(p), p);
        var pending = new Queue<Assembly>(new[] { typeof(PDiff.TorchFixes.TorchRuntime).Assembly });
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "PDiff.Lib" };
        while (pending.Count > 0)
            foreach (var name in pending.Dequeue().GetReferencedAssemblies())
            {
                if (!seen.Add(name.Name!) || paths.ContainsKey(name.Name!)) continue;
                var file = Path.Combine(AppContext.BaseDirectory, name.Name + ".dll");
                if (!File.Exists(file)) continue;
                paths[name.Name!] = file;
                pending.Enqueue(Assembly.LoadFrom(file));
            }
        paths.Remove("PDiff.Lib");   // compiled from source here
        return paths.Values.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
    });
}
