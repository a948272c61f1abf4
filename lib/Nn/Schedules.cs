namespace PDiff.Nn;

/// <summary>A learning rate as a function of the step (or epoch) count, PyTorch's closed forms.</summary>
public abstract record LrSchedule(double BaseLr)
{
    public abstract double At(long step);
}

public sealed record ConstantLr(double BaseLr) : LrSchedule(BaseLr)
{
    public override double At(long step) => BaseLr;
}

/// <summary>CosineAnnealingLR: η_min + (η₀ − η_min)(1 + cos(π·t/T))/2, held at η_min after T.</summary>
public sealed record CosineLr(double BaseLr, long TMax, double EtaMin = 0) : LrSchedule(BaseLr)
{
    public override double At(long step)
    {
        if (TMax <= 0) return BaseLr;
        var t = Math.Min(step, TMax);
        return EtaMin + (BaseLr - EtaMin) * (1 + Math.Cos(Math.PI * t / TMax)) / 2;
    }
}

/// <summary>MultiStepLR: multiply by γ at each milestone passed.</summary>
public sealed record MultiStepLr(double BaseLr, long[] Milestones, double Gamma = 0.1) : LrSchedule(BaseLr)
{
    public override double At(long step) => BaseLr * Math.Pow(Gamma, Milestones.Count(m => step >= m));
}

/// <summary>Drives an optimizer's learning rate from a schedule; call <see cref="step"/> once per step or epoch.</summary>
public sealed class LrScheduler
{
    readonly Optimizer optimizer;
    public LrSchedule Schedule { get; }
    public long Count { get; private set; }

    public LrScheduler(Optimizer optimizer, LrSchedule schedule, long start = 0)
    {
        (this.optimizer, Schedule, Count) = (optimizer, schedule, start);
        optimizer.LearningRate = schedule.At(Count);
    }

    public double CurrentLr => optimizer.LearningRate;

    public void step()
    {
        Count++;
        optimizer.LearningRate = Schedule.At(Count);
    }
}
