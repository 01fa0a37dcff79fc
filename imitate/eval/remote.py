"""The teacher's answers to the questions it has not answered, and the judge's verdicts: both asked
through the teacher session (imitate.teacher.session), appended to RUN/eval_requests.jsonl as they arrive."""
from __future__ import annotations

from imitate.eval import judge
from imitate.eval.questions import question_text
from imitate.rundir import RunDir
from imitate.teacher.client import Teacher
from imitate.teacher.options import TeacherOptions
from imitate.teacher.session import Asker


async def ask_remote(opts: TeacherOptions, judge_at: Teacher | None, run_dir: RunDir, questions: list[dict],
                     answers: dict, *, ask_teacher: bool, judged: list[str], params: dict,
                     max_image_side: int) -> tuple[dict, str | None]:
    """With `ask_teacher`: the teacher's answers to the questions it has not answered, into answers['teacher'].
    With `judged` (the models whose answers the judge weighs against the teacher's; judge_at None: the
    teacher): the judge's verdicts, ({(model, question id): [verdict with the model first, verdict with it
    second]}, why it stopped)."""
    teacher = opts.remote()
    judge_at = judge_at or teacher
    askers = {}

    def asker(remote: Teacher | None) -> Asker:
        key = remote.label if remote else None
        if key not in askers:
            askers[key] = Asker(run_dir, remote, opts, path=run_dir.eval_requests)
        return askers[key]

    verdicts = {}
    try:
        if ask_teacher:
            ask = asker(teacher)
            reqs = {q["id"]: ask.request("teacher", q["prompt"], params, q.get("images"), max_image_side)
                    for q in questions if "answer" not in q}
            got = await ask.ask(list(reqs.values()), "eval teacher") if reqs else {}
            answers["teacher"].update({qid: got[r.key] for qid, r in reqs.items() if r.key in got})
        pairs = [(m, q) for m in judged for q in questions
                 if q["id"] in answers.get(m, {}) and q["id"] in answers.get("teacher", {})]
        if pairs:
            ask, prompt = asker(judge_at), judge.load_prompt()
            reqs = {}
            for m, q in pairs:
                mine, theirs = answers[m][q["id"]]["content"], answers["teacher"][q["id"]]["content"]
                reqs[m, q["id"]] = [ask.request("judge", judge.messages(prompt, question_text(q), a, b), judge.PARAMS,
                                                q.get("images"), max_image_side)
                                    for a, b in ((mine, theirs), (theirs, mine))]
            got = await ask.ask([r for two in reqs.values() for r in two], "eval judge")
            verdicts = {k: [judge.verdict(got[r.key]["content"]) if r.key in got else None for r in two]
                        for k, two in reqs.items()}
    finally:
        for a in askers.values():
            await a.close()
    stopped = next((a.stopped for a in askers.values() if a.stopped), None)
    return verdicts, stopped
