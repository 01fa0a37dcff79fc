"""The equation checker behind hallucination:false_equation (imitate/text/arithmetic.py).

Each notation has a case that holds and one that is a slip; each skip rule has a case that a
naive reading would call false."""
import pytest

from imitate.text.arithmetic import equations, false_equations, segments

HOLDS = [
    # implicit products
    "2(50+100+120)=540", "9+2(8)=25", "27(1/3)=9", "(3)(4)=12",
    # mixed numbers, unicode fractions
    "1 1/2 * 60 = 90", "3 ½ + ½ = 4", "1½ × 2 = 3",
    # thousands separators and decimals
    "18,000 + 2,000 = 20,000", "18 000 + 2 000 = 20 000", "1.000.000 / 2 = 500.000", "1.500 + 500 = 2.000",
    "0.5 * 4 = 2", ".5 * 4 = 2", "Total: $1,234.50 + $765.50 = $2,000.00",
    # percentages
    "20% of 50 = 10", "50*20% = 10", "30% of 90 = 0.3 × 90 = 27", "3/4 = 75%", "(182/211)*100 = 86%",
    ".25 * 100 = 25%", "100% - 40% = 60%",
    # currency, units and words after numbers
    "$12.50 * 2 = $25", "€3 + €4 = €7", "12 dollars * 3 = 36 dollars", "237 potatoes - 60 = 177 cucumbers",
    "So he writes 12*52=624 pages a year", "15 pages x 1/3 = 5 pages", "$35/hour * 3 hours = $105",
    "5 weeks * 3 pounds/week = 15 pounds", "4000 × 3 = 12 thousand", "1.5 million + 500,000 = 2 million",
    "2/5 of 30 = 12", "150 miles/3 hours = 50 mph", "9 × 4 = 36개",
    # operators
    "3 x 4 = 12", "3x4=12", "So 2 x 3 x 4 = 24", "2 ** 3 = 8", "2^3 = 8", "2^3^2 = 512", "5² = 25",
    "12 ÷ 4 = 3", "15 − 7 = 8", "20 – 5 = 15", "3 · 4 = 12", "-5 + 3 = -2", "4500⁄15 × 100 = 30000",
    # chains and running calculations
    "2 + 3 = 5 = 5", "2 * 3 = 6 * 2 = 12", "7*6*5*4*3*2*1 = 5040 = 7!",
    # roundings
    "10/3 = 3.33", "2/3 = 0.67", "2/3 = 0.66", "1/3 = 0.3", "1000/3 = 333", "100/7 = 14.29", "3.33 * 3 = 10",
    "22/7 = 3.14", "1/8 = 0.13",
    # LaTeX and markdown
    "\\frac{3}{4} \\times 8 = 6", "$2^{10} = 1024$", "\\(\\frac{1}{2} + \\frac{1}{3} = \\frac{5}{6}\\)",
    "**7 × 8 = 56**", "Workers:4(100)=400 worker bees", "- 3 + 4 = 7", "4 - 1.5 = 2.5 dozen",
]


@pytest.mark.parametrize("text", HOLDS)
def test_holds(text):
    assert false_equations(text) == [], text
    verdicts = [v for seg in segments(text) for v, _ in equations(seg)]
    assert "holds" in verdicts, (text, verdicts)


SLIPS = [
    ("192*100 = 1920", "19200"), ("6/3 = .5", "2"), ("12 × 7 = 80", "84"), ("15% of 80 = 10", "12"),
    ("2(50+100+120)=550", "540"), ("9+2(8)=26", "25"), ("27(1/3)=8", "9"), ("(3)(4)=13", "12"),
    ("1 1/2 * 60 = 80", "90"), ("18,000 + 2,000 = 21,000", "20000"), ("18 000 + 2 000 = 21 000", "20000"),
    (".5 * 4 = 3", "2"), ("50*20% = 12", "10"), ("$12.50 * 2 = $26", "25"), ("€3 + €4 = €8", "7"),
    ("12 dollars * 3 = 38 dollars", "36"), ("237 potatoes - 60 = 178 cucumbers", "177"),
    ("3 x 4 = 13", "12"), ("3x4=13", "12"), ("2 ** 3 = 6", "8"), ("2^3 = 9", "8"), ("12 ÷ 4 = 4", "3"),
    ("2 + 3 = 5 = 6", "left side is 5"), ("2 * 3 = 6 * 2 = 13", "12"), ("10/3 = 3.43", "3.33333"),
    ("1/3 = 0.34", "0.333333"), ("7/2 = 3.6", "3.5"), ("4000 × 3 = 13 thousand", "12000"),
    ("\\frac{3}{4} \\times 8 = 7", "6"), ("$2^{10} = 1000$", "1024"), ("**7 × 8 = 54**", "56"),
    ("1440 × 60 = 86,000", "86400"), ("3 × 4.50 = 14.50", "13.5"), ("4 × 5 = 19!", "20"),
    ("Step 1: 3 + 4 = 8", "7"), ("2) 3 + 4 = 8", "7"), ("(4 + 5 = 10)", "9"), ("- 3 + 4 = 8", "7"),
]


@pytest.mark.parametrize("text,value", SLIPS)
def test_slips(text, value):
    bad = false_equations(text)
    assert len(bad) == 1, (text, bad)
    assert f"left side is {value}" in bad[0] or value in bad[0], (text, bad)


def test_evidence_is_the_chain_as_written():
    bad = false_equations("First 2 + 2 = 4 + 1 = 6, then 3 + 3 = 6.")
    assert bad == ["2 + 2 = 4 + 1 = 6 (left side is 5, right side 6)"]


# Each would be a false equation if read naively; each is left alone.
SKIPS = [
    # variables
    "x^2 + 3x - 10 = 0", "2x = 10", "n = 5", "3x + 5 = 12", "2y + 3 = 9", "2 * (T + 7) + 3T = 44",
    "0.9X(0.02) = 72", "20 x 60 = 10 x S2", "100= 2 * 1/2 * T", "E = mc^2 = 9",
    # the first side is not a whole expression
    "the weeks - 3 = 5", "half of 10 + 4 = 9", "3 times 5 + 2 = 7", "divided by 2 + 3 = 1",
    "abc12 + 3 = 16", "e ^ 2 + 1 = 3", "The unit's digit of 9^3 = 9", "in half a day (1/2) = 48*2",
    "98 boxes = 60 x 98 = 5880", "7 letter word = 7*6*5*4*3*2*1",
    # ranges, dates, times, ratios, list numbering
    "1990-2000 = 10", "pages 10-20 = 11 pages", "12/25/2020 = 12", "10:30 + 2 = 12:30", "3:4 = 0.7",
    "2024-01-15 = 3",
    # labels, conversions, approximations, values that go on
    "Level 1 = 100", "5 km = 5000 m", "2 km + 3 km = 5000 m", "1 hour + 30 minutes = 90 minutes",
    "10/3 ≈ 3.4", "\\sqrt{16} = 5", "sin(30) + 1 = 1.5", "1 + 1 = 10 in binary", "17 ÷ 5 = 3 remainder 2",
    "= 5 + 3", "12 × 7 = 8 × 10.5 = 84", "40000 × 3 = 12만 원", "1 ÷ 4 = 4분의 1", "50 + 10% = 55",
    "5M + 3M = 8", "3 + 4 = 5× faster", "12 × 7 = 84km/h",
]


@pytest.mark.parametrize("text", SKIPS)
def test_skipped(text):
    assert false_equations(text) == [], (text, false_equations(text))


def test_korean_particles_end_the_last_side():
    assert false_equations("그러므로 7 × 9 = 56입니다.")
    assert not false_equations("그러므로 7 × 9 = 63입니다.")


def test_no_equals_is_cheap_and_empty():
    assert false_equations("No equation here, just 12 and 7.") == []
    assert list(segments("A long text without an equals sign.")) == []
