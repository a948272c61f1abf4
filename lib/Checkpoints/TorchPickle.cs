using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace PDiff.Checkpoints;

// The values a torch.save pickle can produce here. Nothing is ever executed: Python classes other than
// the handful torch.save uses for tensors become opaque PyObjects, which the caller skips.
internal sealed class PyList : List<object?>
{
    public PyList() { }
    public PyList(IEnumerable<object?> items) : base(items) { }
}

/// <summary>A Python dict in insertion order (OrderedDict included).</summary>
internal sealed class PyDict
{
    static readonly object NoneKey = new();
    readonly Dictionary<object, int> index = new();
    public readonly List<KeyValuePair<object?, object?>> Items = new();

    public void Set(object? key, object? value)
    {
        var k = key ?? NoneKey;
        if (index.TryGetValue(k, out var i)) Items[i] = new(key, value);
        else
        {
            index[k] = Items.Count;
            Items.Add(new(key, value));
        }
    }
}

internal sealed record PyGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

internal sealed record PyObject(string Class);
internal sealed record StorageRef(string Key, ScalarType DType, long Numel);
internal sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride, bool RequiresGrad);

/// <summary>
/// A restricted unpickler for the data.pkl of a torch.save archive. It understands the opcodes of
/// pickle protocols 2 to 5 that hold data, and the torch globals that rebuild dense tensors; it checks
/// every length against the bytes left and every pop against the stack, so a malformed file raises
/// <see cref="InvalidDataException"/> and nothing else. It never recurses on the file's structure (the
/// opcode loop is flat and nested rebuild calls are unwrapped in a loop with a limit), so no file can
/// overflow the stack, whatever thread reads it.
/// </summary>
internal sealed class TorchPickle
{
    const int MaxDims = 64;
    // torch.save nests _rebuild_from_type_v2 once (a tensor subclass around a plain rebuild); a few
    // levels leave room for subclasses of subclasses. Thousands can only come from a hostile file.
    internal const int MaxRebuildNesting = 8;

    readonly byte[] b;
    readonly string path;
    int pos;
    readonly List<object?> stack = new();
    readonly List<int> marks = new();
    readonly Dictionary<long, object?> memo = new();

    TorchPickle(byte[] bytes, string path)
    {
        b = bytes;
        this.path = path;
    }

    public static object? Read(byte[] pickle, string path) => new TorchPickle(pickle, path).Run();

    InvalidDataException Bad(string problem) => PtCheckpoint.Bad(path, $"data.pkl: {problem}");

    object? Run()
    {
        while (true)
        {
            if (pos >= b.Length) throw Bad("the pickle ends without a STOP opcode (truncated?)");
            var at = pos;
            var op = b[pos++];
            if (op == (byte)'.') // STOP
            {
                if (stack.Count != 1 || marks.Count != 0) throw Bad($"the pickle stops with {stack.Count} values and {marks.Count} marks on its stack (expected one value)");
                return stack[0];
            }
            if (!Control(op, at) && !PushLiteral(op, at) && !BuildContainer(op, at) && !MemoOrObject(op, at))
                throw Bad($"unsupported pickle opcode 0x{op:x2} at byte {at}");
        }
    }

    /// <summary>Runs the opcodes that steer the reader and the stack (protocol, frame, marks, pop, dup); false when <paramref name="op"/> is not one of them.</summary>
    bool Control(byte op, int at)
    {
        switch (op)
        {
            case 0x80: { var v = U8(); if (v < 2 || v > 5) throw Bad($"pickle protocol {v} is not one torch.save writes"); break; } // PROTO
            case 0x95: Take(8); break; // FRAME: a length hint only
            case (byte)'(': marks.Add(stack.Count); break; // MARK
            case (byte)'0': Pop(at); break; // POP
            case (byte)'1': PopMark(at); break; // POP_MARK
            case (byte)'2': Push(Peek(at)); break; // DUP
            default: return false;
        }
        return true;
    }

    /// <summary>Pushes the value an opcode holds in the file (None, booleans, integers, floats, strings, bytes); false when <paramref name="op"/> is not one of them.</summary>
    bool PushLiteral(byte op, int at)
    {
        switch (op)
        {
            case (byte)'N': Push(null); break;
            case 0x88: Push(true); break;
            case 0x89: Push(false); break;
            case (byte)'K': Push((long)U8()); break; // BININT1
            case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
            case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
            case 0x8a: Push(Long(U8(), at)); break; // LONG1
            case 0x8b: Push(Long(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4))), at)); break; // LONG4
            case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
            case (byte)'X': Push(Utf8(Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))), at)); break; // BINUNICODE
            case 0x8c: Push(Utf8(U8(), at)); break; // SHORT_BINUNICODE
            case 0x8d: Push(Utf8(Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(8))), at)); break; // BINUNICODE8
            case (byte)'T': Push(Encoding.Latin1.GetString(Take(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4)))))); break; // BINSTRING
            case (byte)'U': Push(Encoding.Latin1.GetString(Take(U8()))); break; // SHORT_BINSTRING
            case (byte)'B': Push(Take(Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray()); break; // BINBYTES
            case (byte)'C': Push(Take(U8()).ToArray()); break; // SHORT_BINBYTES
            case 0x8e: Push(Take(Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))).ToArray()); break; // BINBYTES8
            default: return false;
        }
        return true;
    }

    /// <summary>Builds or fills a tuple, list or dict from the stack; false when <paramref name="op"/> is not one of them.</summary>
    bool BuildContainer(byte op, int at)
    {
        switch (op)
        {
            case (byte)')': Push(Array.Empty<object?>()); break; // EMPTY_TUPLE
            case (byte)'t': Push(PopMark(at).ToArray()); break; // TUPLE
            case 0x85: Push(PopN(1, at)); break; // TUPLE1
            case 0x86: Push(PopN(2, at)); break; // TUPLE2
            case 0x87: Push(PopN(3, at)); break; // TUPLE3
            case (byte)']': Push(new PyList()); break; // EMPTY_LIST
            case (byte)'l': Push(new PyList(PopMark(at))); break; // LIST
            case (byte)'}': Push(new PyDict()); break; // EMPTY_DICT
            case (byte)'d': { var d = new PyDict(); SetItems(d, PopMark(at), at); Push(d); break; } // DICT
            case (byte)'a': { var x = Pop(at); Append(Peek(at), new[] { x }, at); break; } // APPEND
            case (byte)'e': { var xs = PopMark(at); Append(Peek(at), xs, at); break; } // APPENDS
            case (byte)'s': { var v = Pop(at); var k = Pop(at); SetItems(Peek(at), new[] { k, v }, at); break; } // SETITEM
            case (byte)'u': { var xs = PopMark(at); SetItems(Peek(at), xs, at); break; } // SETITEMS
            default: return false;
        }
        return true;
    }

    /// <summary>Runs the memo opcodes and those that name, call, build or load an object (globals, REDUCE, NEWOBJ, BUILD, persistent ids); false when <paramref name="op"/> is not one of them.</summary>
    bool MemoOrObject(byte op, int at)
    {
        switch (op)
        {
            case (byte)'q': memo[U8()] = Peek(at); break; // BINPUT
            case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek(at); break; // LONG_BINPUT
            case 0x94: memo[memo.Count] = Peek(at); break; // MEMOIZE
            case (byte)'h': Push(Memo(U8(), at)); break; // BINGET
            case (byte)'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), at)); break; // LONG_BINGET
            case (byte)'c': { var m = Line(at); var n = Line(at); Push(Global(m, n, at)); break; } // GLOBAL
            case 0x93: { var n = Pop(at); var m = Pop(at); Push(m is string ms && n is string ns ? Global(ms, ns, at) : throw Bad($"STACK_GLOBAL at byte {at} needs two strings")); break; }
            case (byte)'R': { var args = Pop(at); var f = Pop(at); Push(Call(f, args, at)); break; } // REDUCE
            case 0x81: { Pop(at); var cls = Pop(at); Push(New(cls, at)); break; } // NEWOBJ (arguments unused)
            case 0x92: { Pop(at); Pop(at); var cls = Pop(at); Push(New(cls, at)); break; } // NEWOBJ_EX
            case (byte)'b': { Pop(at); Build(Peek(at), at); break; } // BUILD (state dropped, see Build)
            case (byte)'Q': Push(Persistent(Pop(at), at)); break; // BINPERSID
            default: return false;
        }
        return true;
    }

    // ---- reading the byte stream ----
    byte U8() => Take(1)[0];

    ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > b.Length - pos) throw Bad($"a value at byte {pos} needs {n} bytes but only {b.Length - pos} remain (truncated?)");
        var s = b.AsSpan(pos, n);
        pos += n;
        return s;
    }

    int Length(long n) => n >= 0 && n <= b.Length - pos ? (int)n : throw Bad($"a length of {n} at byte {pos} exceeds the {b.Length - pos} bytes that remain");
    int Length(ulong n) => n <= (ulong)(b.Length - pos) ? (int)n : throw Bad($"a length of {n} at byte {pos} exceeds the {b.Length - pos} bytes that remain");

    string Utf8(int n, int at)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take(n)); }
        catch (DecoderFallbackException) { throw Bad($"the string at byte {at} is not valid UTF-8"); }
    }

    string Line(int at)
    {
        var end = Array.IndexOf(b, (byte)'\n', pos, Math.Min(b.Length - pos, 1024));
        if (end < 0) throw Bad($"the GLOBAL at byte {at} has no newline-terminated name");
        var s = Encoding.ASCII.GetString(b, pos, end - pos);
        pos = end + 1;
        return s;
    }

    object Long(int n, int at)
    {
        var bytes = Take(n);
        if (n > 8) throw Bad($"the integer at byte {at} has {n} bytes (more than 64 bits)");
        long v = n > 0 && (bytes[n - 1] & 0x80) != 0 ? -1 : 0; // sign-extend two's complement
        for (var i = n - 1; i >= 0; i--) v = (v << 8) | bytes[i];
        return v;
    }

    // ---- the stack ----
    void Push(object? v) => stack.Add(v);
    int Floor => marks.Count > 0 ? marks[^1] : 0;

    object? Peek(int at) => stack.Count > Floor ? stack[^1] : throw Bad($"the opcode at byte {at} needs a value but the stack is empty");

    object? Pop(int at)
    {
        var v = Peek(at);
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    object?[] PopN(int n, int at)
    {
        if (stack.Count - Floor < n) throw Bad($"the opcode at byte {at} needs {n} values but the stack holds {stack.Count - Floor}");
        var r = stack.GetRange(stack.Count - n, n).ToArray();
        stack.RemoveRange(stack.Count - n, n);
        return r;
    }

    List<object?> PopMark(int at)
    {
        if (marks.Count == 0) throw Bad($"the opcode at byte {at} needs a MARK but there is none");
        var m = marks[^1];
        marks.RemoveAt(marks.Count - 1);
        var r = stack.GetRange(m, stack.Count - m);
        stack.RemoveRange(m, stack.Count - m);
        return r;
    }

    object? Memo(long id, int at) => memo.TryGetValue(id, out var v) ? v : throw Bad($"memo entry {id} read at byte {at} was never stored");

    // ---- containers ----
    void Append(object? target, IReadOnlyList<object?> items, int at)
    {
        if (target is PyList l) l.AddRange(items);
        else if (target is not PyObject) throw Bad($"APPEND(S) at byte {at} targets a {Describe(target)}, not a list");
    }

    void SetItems(object? target, IReadOnlyList<object?> kv, int at)
    {
        if (kv.Count % 2 != 0) throw Bad($"the dict items at byte {at} are not key/value pairs");
        if (target is PyDict d)
            for (var i = 0; i < kv.Count; i += 2) d.Set(kv[i], kv[i + 1]);
        else if (target is not PyObject) throw Bad($"SETITEM(S) at byte {at} targets a {Describe(target)}, not a dict");
    }

    static string Describe(object? v) => v switch
    {
        null => "None",
        PyObject o => SafeText.Clean(o.Class),
        PyGlobal g => SafeText.Clean(g.ToString()),
        object?[] => "tuple",
        _ => v.GetType().Name,
    };

    // ---- globals: only what torch.save uses for dense tensors is interpreted ----

    // Globals are never looked up, so naming os.system runs nothing; but a checkpoint has no use for
    // these, and a file that names one was made to attack a Python loader: refuse it outright.
    static readonly HashSet<string> HostileModules = new(StringComparer.Ordinal)
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty", "ctypes",
        "code", "codeop", "commands", "webbrowser", "pickle", "_pickle", "marshal", "multiprocessing", "asyncio",
        "pdb", "bdb", "timeit", "cProfile", "profile", "trace", "types", "operator", "functools", "io", "_io",
    };

    static readonly HashSet<string> HostileBuiltins = new(StringComparer.Ordinal)
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
        "vars", "input", "breakpoint", "help", "exit", "quit", "apply", "execfile", "file", "reload",
    };

    PyGlobal Global(string module, string name, int at)
    {
        var top = module.Split('.')[0];
        if (HostileModules.Contains(top) || (module is "builtins" or "__builtin__" && HostileBuiltins.Contains(name)))
            throw Bad($"the GLOBAL at byte {at} names {SafeText.Clean(module + "." + name)}, which no checkpoint needs: the file was made to run code " +
                      "in a Python loader (nothing in it was run here); do not load it in Python either");
        return new PyGlobal(module, name);
    }
    object New(object? cls, int at) => cls switch
    {
        PyGlobal { Module: "collections", Name: "OrderedDict" } => new PyDict(),
        PyGlobal g => new PyObject(g.ToString()),
        _ => throw Bad($"NEWOBJ at byte {at} on a {Describe(cls)}, not a class"),
    };

    void Build(object? target, int at)
    {
        // BUILD sets an object's state: an OrderedDict's `_metadata` (module versions) or a Python
        // object's attributes. Neither holds tensors of a state dict, so the state is dropped.
        if (target is not (PyDict or PyObject or TensorRef))
            throw Bad($"BUILD at byte {at} on a {Describe(target)}");
    }

    object? Call(object? f, object? argsValue, int at)
    {
        // _rebuild_from_type_v2(rebuild function, tensor subclass, its arguments, python state) rebuilds
        // the plain tensor: unwrapped here in a loop, not by recursion, with a limit.
        for (var nesting = 0; ; nesting++)
        {
            if (f is not PyGlobal g) throw Bad($"REDUCE at byte {at} calls a {Describe(f)}, not a global");
            if (argsValue is not object?[] args) throw Bad($"REDUCE at byte {at} passes a {Describe(argsValue)}, not an argument tuple");
            if (g is not { Module: "torch._tensor", Name: "_rebuild_from_type_v2" }) return CallGlobal(g, args, at);
            if (nesting >= MaxRebuildNesting)
                throw Bad($"the call at byte {at} nests {Describe(g)} more than {MaxRebuildNesting} levels deep (torch.save writes one)");
            if (args.Length < 3) throw Bad($"{Describe(g)} at byte {at} has {args.Length} arguments");
            f = args[0];
            argsValue = args[2];
        }
    }

    object? CallGlobal(PyGlobal g, object?[] args, int at)
    {
        switch (g.Module, g.Name)
        {
            case ("collections", "OrderedDict"):
            {
                var d = new PyDict();
                if (args.Length > 0 && args[0] is PyList pairs)
                    foreach (var p in pairs)
                        if (p is object?[] { Length: 2 } kv) d.Set(kv[0], kv[1]);
                        else throw Bad($"OrderedDict at byte {at} built from something other than pairs");
                return d;
            }
            case ("torch._utils", "_rebuild_tensor"):
            case ("torch._utils", "_rebuild_tensor_v2"):
            {
                if (args.Length < 4 || args[0] is not StorageRef s || args[1] is not long offset)
                    throw Bad($"{Describe(g)} at byte {at} has arguments ({string.Join(", ", args.Select(Describe))})");
                var size = Ints(args[2], "size", at);
                var stride = Ints(args[3], "stride", at);
                if (size.Length != stride.Length) throw Bad($"a tensor at byte {at} has {size.Length} sizes but {stride.Length} strides");
                var grad = args.Length > 4 && args[4] is true;
                return new TensorRef(s, offset, size, stride, grad);
            }
            case ("torch._utils", "_rebuild_parameter"):
            case ("torch._utils", "_rebuild_parameter_with_state"):
                if (args.Length < 2 || args[0] is not TensorRef t) throw Bad($"{Describe(g)} at byte {at} does not wrap a tensor");
                return t with { RequiresGrad = args[1] is true };
        }
        if (g.Module == "torch._utils" && g.Name.StartsWith("_rebuild_", StringComparison.Ordinal))
            throw Bad($"it holds a tensor rebuilt by {Describe(g)} (quantized, sparse or otherwise special); only dense tensors can be read");
        // Any other global (os.system, builtins.eval, a user's class) is only named, never looked up or run.
        return new PyObject(g.ToString());
    }

    long[] Ints(object? v, string what, int at)
    {
        if (v is not object?[] items) throw Bad($"the {what} of a tensor at byte {at} is a {Describe(v)}, not a tuple");
        if (items.Length > MaxDims) throw Bad($"a tensor at byte {at} has {items.Length} dimensions");
        var r = new long[items.Length];
        for (var i = 0; i < r.Length; i++)
            r[i] = items[i] is long x ? x : throw Bad($"the {what} of a tensor at byte {at} holds a {Describe(items[i])}");
        return r;
    }

    static readonly Dictionary<string, ScalarType> StorageTypes = new()
    {
        ["FloatStorage"] = ScalarType.Float32, ["DoubleStorage"] = ScalarType.Float64, ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["LongStorage"] = ScalarType.Int64, ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8, ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool, ["UntypedStorage"] = ScalarType.Byte,
    };

    // torch.save's persistent id of a storage: ("storage", torch.<Type>Storage, key, location, numel).
    StorageRef Persistent(object? pid, int at)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
            throw Bad($"the persistent id at byte {at} is not a storage reference");
        if (t[1] is not PyGlobal { Module: "torch" } g || !StorageTypes.TryGetValue(g.Name, out var dtype))
            throw Bad($"the storage at byte {at} has type {Describe(t[1])}, which has no supported element type");
        if (t[2] is not string key || key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains(".."))
            throw Bad($"the storage at byte {at} has an invalid record key");
        if (t[4] is not long numel || numel < 0) throw Bad($"the storage at byte {at} has an invalid element count");
        return new StorageRef(key, dtype, numel);
    }
}
