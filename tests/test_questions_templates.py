"""The prompt templates in prompts/ load, fill, and reject broken edits with the file named."""
import pytest

from imitate.errors import UserError
from imitate.questions.templates import BREADTH, load_evol, load_self_instruct


def test_shipped_templates_fill():
    text = load_self_instruct().substitute(n=4, category="math", examples="1. What is 2+2?")
    assert "4 new questions" in text and '"math"' in text and "1. What is 2+2?" in text
    evol = load_evol()
    assert set(evol.names) == {"constraints", "deepen", "concretize", "reasoning", "complicate_input", BREADTH}
    deep = evol.evolve("constraints", "What is rain?")
    assert "What is rain?" in deep and evol.operations["constraints"] in deep and deep.endswith("#Rewritten Prompt#:")
    assert evol.evolve(BREADTH, "What is rain?").endswith("#Created Prompt#:")
    judged = evol.judge("A?", "B?")
    assert "The First Prompt: A?" in judged and "The Second Prompt: B?" in judged


@pytest.mark.parametrize("text,msg", [("Write $n questions.", "$category"),
                                      ("$n $category $examples $topic", "$topic"),
                                      ("$n $category $examples costs $5", "stray $")])
def test_bad_self_instruct_template(tmp_path, text, msg):
    path = tmp_path / "si.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=r"si\.txt") as e:
        load_self_instruct(path)
    assert msg in str(e.value)


def test_bad_evol_yaml(tmp_path):
    path = tmp_path / "evol.yaml"
    path.write_text("in_depth: 'rewrite $question'\noperations: {a: b}\nin_breadth: '$question'\nequal: '$first $second'\n")
    with pytest.raises(UserError, match=r"evol\.yaml.*\$method"):
        load_evol(path)
    path.write_text("operations: [a, b]\n")
    with pytest.raises(UserError, match="operations"):
        load_evol(path)
    path.write_text("in_depth: [unclosed\n")
    with pytest.raises(UserError, match=r"evol\.yaml:\d+: invalid YAML"):
        load_evol(path)
