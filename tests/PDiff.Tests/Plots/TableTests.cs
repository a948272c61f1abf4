using PDiff.Plots;
using Xunit;

namespace PDiff.Tests.Plots;

public class TableTests
{
    record Row(string Method, double Accuracy, int Models, double? Loss);

    static readonly Row[] Rows =
    {
        new("original", 0.91234567, 200, 1.5e-5),
        new("p-diff <gen>", 0.9, 12, null),
    };

    [Fact]
    public void TextIsAlignedWithNumbersOnTheRight()
    {
        var text = Table.From(Rows, "Fashion-MNIST").ToText();
        var expected =
            "Fashion-MNIST\n" +
            "Method        Accuracy  Models    Loss\n" +
            "------------  --------  ------  ------\n" +
            "original        0.9123     200  1.5e-5\n" +
            "p-diff <gen>       0.9      12\n";
        Assert.Equal(expected, text);
    }

    [Fact]
    public void HtmlEscapesCellsAndRightAlignsNumbers()
    {
        var html = Table.From(Rows).ToHtml();
        Assert.Contains("<th>Method</th><th>Accuracy</th><th>Models</th><th>Loss</th>", html);
        Assert.Contains("<td>p-diff &lt;gen&gt;</td>", html);
        Assert.Contains("<td style=\"text-align:right\">0.9123</td>", html);
        Assert.Equal(3, html.Split("<tr>").Length - 1); // header + two rows
        Assert.DoesNotContain("<caption>", html);
    }

    [Fact]
    public void AnonymousRowsNumberFormatsCsvAndMarkdown()
    {
        var t = Table.From(new[] { new { k = "a,b", v = 0.123456 }, new { k = "q\"x", v = 2.0 } }, numberFormat: "F2");
        Assert.Equal(new[] { "k", "v" }, t.Columns);
        Assert.Equal("0.12", t.Rows[0][1]);
        Assert.Equal("k,v\n\"a,b\",0.12\n\"q\"\"x\",2.00\n", t.ToCsv());
        Assert.Equal("| k | v |\n| --- | ---: |\n| a,b | 0.12 |\n| q\"x | 2.00 |\n", t.ToMarkdown());
    }

    [Fact]
    public void NonFiniteAndScalarRows()
    {
        var t = Table.From(new[] { double.NaN, double.PositiveInfinity, 0.0, 12345678.0 });
        Assert.Equal(new[] { "value" }, t.Columns);
        Assert.Equal(new[] { "NaN", "inf", "0", "1.235e+7" }, t.Rows.Select(r => r[0]));
    }

    [Fact]
    public void RaggedRowsAreRefusedWithTheColumnNames()
    {
        var e = Assert.Throws<ArgumentException>(() => new Table(new[] { "a", "b" }, new[] { new object?[] { 1, 2 }, new object?[] { 3 } }));
        Assert.Contains("row 1 has 1 cells but there are 2 columns (a, b)", e.Message);
    }
}
