using System.Globalization;
using System.Text;

namespace PDiff.Checkpoints;

/// <summary>
/// Text taken from a file (tensor names, globals, dtype strings, storage keys) as it may appear in an
/// error message: cut short and stripped of control and formatting characters, so that a hostile file
/// can neither flood a log, nor move a terminal's cursor, nor reverse the text around it (U+202E).
/// Nothing else from a file's content ever reaches a message: only sizes, offsets and counts.
/// </summary>
internal static class SafeText
{
    /// <summary>Longest run of a file's text quoted in a message.</summary>
    public const int MaxQuoted = 64;

    /// <summary><paramref name="s"/> sanitized, cut to <paramref name="max"/> characters (with … and the full length), in single quotes.</summary>
    public static string Quote(string? s, int max = MaxQuoted) => "'" + Clean(s, max) + "'";

    /// <summary><paramref name="s"/> sanitized and cut to <paramref name="max"/> characters, without quotes.</summary>
    public static string Clean(string? s, int max = MaxQuoted)
    {
        if (s is null) return "";
        var sb = new StringBuilder(Math.Min(s.Length, max) + 16);
        var shown = 0;
        foreach (var r in s.EnumerateRunes())
        {
            if (shown == max) return sb.Append($"… ({s.Length} characters)").ToString();
            var cat = Rune.GetUnicodeCategory(r);
            var bad = cat is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned;
            if (bad) sb.Append('?');
            else sb.Append(r.ToString());
            shown++;
        }
        return sb.ToString();
    }

    /// <summary>A message from .NET or libtorch about the file, cleaned the same way (they may quote names).</summary>
    public static string Reason(Exception e) => Clean(e.Message, 200);
}
