"""The words that arithmetic in prose uses around numbers: scales, functions, units, the words that link
clauses or take an operand (imitate.text.expression reads them)."""
import re

SCALE = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12,
         "dozen": 12}
AMBIGUOUS_SCALE = frozenset("M B bn mn mil lakh lakhs crore crores".split())   # "5M": metres or million?
FUNCS = frozenset("sqrt root log ln exp sin cos tan cot sec csc mod modulo gcd lcm max min abs floor ceil "
                  "choose factorial".split())
# Short words that are units after a number (anything of 3+ letters is taken as a unit).
SHORT_UNITS = frozenset("km cm mm nm kg mg lb lbs oz ft yd mi ml mL kL hr hrs kW MW GB MB KB kB TB Gb Mb "
                        "pm am ms ns μm μg mph kph".split())
# Words that end a run of unit words: they link clauses or take the next number as an operand.
NOT_UNITS = frozenset("and or is are was were be so then thus which that equals equal gives makes make "
                      "than to from by times plus minus over divided multiplied into as if when where "
                      "but because hence therefore since yields".split())
# A first side right after these words is an operand of them: "3 times", "15 per", "2 x".
OPERAND_WORDS = frozenset("percent per times x plus minus over than squared cubed power root sqrt mod "
                          "modulo log ln sin cos tan exp".split())
# "of" and "by" take an operand only after these: "half of 10 + 4", "divided by 2 + 3"; "the sum of
# 3 + 4 = 7", "a profit of 200 - 130 = 70" and "increased by 2 * 3 = 6" are still equations.
OF_AFTER = frozenset("half halves third thirds quarter quarters fourth fourths fifth fifths sixth sixths "
                     "seventh sevenths eighth eighths ninth ninths tenth tenths hundredth hundredths twice "
                     "double triple thrice percent fraction multiple square cube root power digit digits "
                     "remainder factorial reciprocal inverse logarithm log average mean median".split())
BY_AFTER = frozenset("divided divide divides dividing multiplied multiply multiplies multiplying".split())
# A last side followed by one of these is not the whole value ("3 remainder 1", "10 in binary").
STOP_AFTER = re.compile(r"[ \t]*(?:remainder|rem\b|r\b|in[ \t]+(?:binary|base|decimal|hex|octal|roman)|"
                        r"base\b|mod\b|modulo|with\b|x\b|and[ \t]+\d|\(mod|余|나머지)", re.I)
# Units of measure: two sides (or two terms of a sum) with different ones are a conversion.
MEASURE = frozenset((
    "second sec s minute min hour hr h day week month year decade century "
    "mm cm m km meter metre inch inche in foot feet ft yard yd mile mi "
    "mg g gram kg kilogram pound lb ounce oz ton tonne "
    "ml milliliter millilitre l liter litre gallon quart pint cup tablespoon teaspoon tbsp tsp "
    "cent dollar penny pence euro "
    "byte bit kb mb gb tb "
    "mph kph").split())
