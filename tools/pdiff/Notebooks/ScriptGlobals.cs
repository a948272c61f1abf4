namespace PDiff.Notebooks;

/// <summary>
/// What a notebook cell sees besides its own variables when run headless. Only <c>display</c>, spelled
/// and called like .NET Interactive's (<c>display(value)</c>, optionally with mime types), so the same
/// cell runs unchanged in VS Code's Polyglot Notebooks, where <c>display</c> is the kernel's own.
/// </summary>
public class ScriptGlobals
{
    readonly MimeBundle _bundles;

    public ScriptGlobals(MimeBundle bundles) => _bundles = bundles;

    /// <summary>
    /// Adds a display_data output to the running cell: a Figure as HTML + PNG, a Table as HTML + text,
    /// a PNG byte[] as an image, anything else as text. With mime types, only those forms are stored.
    /// </summary>
    public void display(object? value, params string[] mimeTypes)
    {
        var outputs = OutputCapture.Current
                      ?? throw new InvalidOperationException("display() was called outside a running notebook cell.");
        outputs.Add(new System.Text.Json.Nodes.JsonObject
        {
            ["data"] = _bundles.Build(value, mimeTypes),
            ["metadata"] = new System.Text.Json.Nodes.JsonObject(),
            ["output_type"] = "display_data",
        });
    }
}
