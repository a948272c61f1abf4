using TorchSharp;

// `train <dir>`: the fault-injection target (Storage/FaultInjectionTests.cs), killed at random moments.
if (args.Length == 2 && args[0] == "train") return PDiff.LoadCheck.FaultTarget.Train(args[1]);
// `hold|wait <dir>`, `swap <dir> <step>`: the lock and swap tests' children (Storage/FolderLockTests.cs, ZooSwapTests.cs).
if (args.Length == 2 && args[0] == "hold") return PDiff.LoadCheck.LockTarget.Hold(args[1]);
if (args.Length == 2 && args[0] == "wait") return PDiff.LoadCheck.LockTarget.Wait(args[1]);
if (args.Length == 3 && args[0] == "align-when-told") return PDiff.LoadCheck.LockTarget.AlignWhenTold(args[1], args[2]);
if (args.Length == 3 && args[0] == "swap") return PDiff.LoadCheck.LockTarget.Swap(args[1], args[2]);
// `settings [apply]`: the library used without (or with) the entry points' ProcessSettings.Apply() (Engine/FreshProcessTests.cs).
if (args.Length >= 1 && args[0] == "settings") return PDiff.LoadCheck.SettingsProbe.Run(apply: args.Length > 1 && args[1] == "apply");

// Torch first, before any PDiff.Lib type runs its loader: a program finds TorchSharp's natives on its own.
using var a = torch.tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
using var b = torch.tensor(new float[] { 5, 6, 7, 8 }, new long[] { 2, 2 });
using var c = a.matmul(b);
Console.WriteLine($"torch.__version__={torch.__version__}");
Console.WriteLine($"matmul={string.Join(",", c.data<float>().ToArray())}");
Console.WriteLine($"engine={PDiff.TorchFixes.TorchRuntime.Describe()}");
return 0;
