using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PDiff.Plots;

/// <summary>
/// The serializer settings that turn the figure model into Plotly's JSON. Plotly's attribute names are
/// lower case without separators (<c>showlegend</c>, <c>nbinsx</c>, <c>colorscale</c>), so C# property
/// names are simply lower-cased; the few names with underscores (<c>plot_bgcolor</c>) carry an explicit
/// <see cref="JsonPropertyNameAttribute"/>. Unset (null) attributes are left out so Plotly's own defaults
/// apply, and non-finite numbers become <c>null</c>, which Plotly draws as a gap (JSON has no NaN).
/// </summary>
public static class PlotlyJson
{
    public static readonly JsonSerializerOptions Options = Create(indented: false);
    public static readonly JsonSerializerOptions IndentedOptions = Create(indented: true);

    static JsonSerializerOptions Create(bool indented)
    {
        var o = new JsonSerializerOptions
        {
            PropertyNamingPolicy = new LowerCasePolicy(),
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            WriteIndented = indented,
            // Readable JSON ("lines+markers", not "lines\u002Bmarkers"); what HTML needs escaped when
            // the JSON sits inside a <script> is done by ForScript.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        o.Converters.Add(new FiniteDoubleConverter());
        o.Converters.Add(new FiniteFloatConverter());
        o.Converters.Add(new Matrix2DConverter<double>());
        o.Converters.Add(new Matrix2DConverter<float>());
        o.Converters.Add(new Matrix2DConverter<int>());
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }

    /// <summary>
    /// JSON made safe to place inside an HTML &lt;script&gt;: a string containing "&lt;/script&gt;" or
    /// "&lt;!--" must not end or confuse the element. "\/" and "\u0021" are plain JSON escapes.
    /// </summary>
    public static string ForScript(string json) => json.Replace("</", "<\\/").Replace("<!--", "<\\u0021--");

    sealed class LowerCasePolicy : JsonNamingPolicy
    {
        public override string ConvertName(string name) => name.ToLowerInvariant();
    }

    sealed class FiniteDoubleConverter : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) =>
            r.TokenType == JsonTokenType.Null ? double.NaN : r.GetDouble();

        public override void Write(Utf8JsonWriter w, double v, JsonSerializerOptions o)
        {
            if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue();
        }
    }

    sealed class FiniteFloatConverter : JsonConverter<float>
    {
        public override float Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) =>
            r.TokenType == JsonTokenType.Null ? float.NaN : r.GetSingle();

        public override void Write(Utf8JsonWriter w, float v, JsonSerializerOptions o)
        {
            if (float.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue();
        }
    }

    /// <summary>Rectangular arrays (heatmap <c>z</c>) as Plotly's list of rows.</summary>
    sealed class Matrix2DConverter<T> : JsonConverter<T[,]>
    {
        public override T[,] Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) =>
            throw new NotSupportedException("The figure model is write-only.");

        public override void Write(Utf8JsonWriter w, T[,] m, JsonSerializerOptions o)
        {
            w.WriteStartArray();
            for (var i = 0; i < m.GetLength(0); i++)
            {
                w.WriteStartArray();
                for (var j = 0; j < m.GetLength(1); j++) JsonSerializer.Serialize(w, m[i, j], o);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }
    }
}
