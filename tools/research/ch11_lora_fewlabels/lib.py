# ruff: noqa
"""ft6 (continuing ft4's study; checkpoints loaded from /tmp/ft4, results written to /tmp/ft6). ft4 shared setup: validation split of ch11's training labels (as /tmp/ft3/common.py: perm seed 123, 362 held out),
one 1,280-token BPE trained on the pre-training docstrings, pre-training (causal GPT or MLM), fine-tuning evals."""
import copy, sys, time, torch
from aigc_course.data.tasks import docstring_topics, unlabelled_docstrings, TextTask
from aigc_course.data.bpe import BPETokenizer
from aigc_course.data.text import load_corpus, get_batch
from aigc_course.models.encoder import MaskedLM, mask_tokens
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.finetune import add_lora, parameter_share, SequenceClassifier, fit_classifier, predict_classes, freeze, paired_gap_interval
from aigc_course.train import WarmupCosine, supervised_step, train
torch.set_num_threads(1)
T0 = time.time()
def log(*a):
    print(f"[{time.time() - T0:5.0f}s]", *a, flush=True)
task = docstring_topics(max_chars=64)
K, N_TRAIN = len(task.classes), len(task.train_texts)
g = torch.Generator().manual_seed(123)
perm = torch.randperm(N_TRAIN, generator=g)
n_val = N_TRAIN // 5
val_idx, tr_idx = perm[:n_val], perm[n_val:]
val_texts = [task.train_texts[i] for i in val_idx]
# pre-training text: no docstring that starts with a test OR a validation text (the validation split mimics the test)
hidden = TextTask(task.classes, [], task.train_labels[:0], list(task.test_texts) + val_texts, task.test_labels)
def corpus(name):
    if name == "pydocs":
        return load_corpus("python-docs")
    return "\n\n".join(unlabelled_docstrings(hidden, topics_only=(name == "topics")))
BPE_TEXT = corpus("all")
bpe = BPETokenizer.train(BPE_TEXT, 1280)
PAD_ID, MASK_ID = bpe.vocab_size, bpe.vocab_size + 1
V, T = bpe.vocab_size + 2, 64
CFG = GPTConfig(vocab_size=V, block_size=T, n_layer=4, n_head=4, n_embd=128)
log(f"BPE {bpe.vocab_size} on {len(BPE_TEXT):,} chars of docstrings")
def enc(texts):
    rows = [bpe.encode(t)[:T] for t in texts]
    x = torch.full((len(rows), max(map(len, rows))), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, :len(r)] = torch.tensor(r)
    return x, torch.tensor([len(r) for r in rows])
tr_x, tr_l = enc([task.train_texts[i] for i in tr_idx]); tr_y = task.train_labels[tr_idx]
va_x, va_l = enc(val_texts); va_y = task.train_labels[val_idx]
def make(kind):
    return (GPT if kind == "gpt" else MaskedLM)(CFG)
def pretrain(kind, corpus_name, steps, lr=2e-3, snaps=(), tag=""):
    text = corpus(corpus_name)
    ids = torch.tensor(bpe.encode(text))
    log(f"pre-train {kind} on {corpus_name}: {len(text):,} chars -> {len(ids):,} tokens")
    torch.manual_seed(0)
    m = make(kind)
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(steps, warmup=steps // 20 + 1))
    gen = torch.Generator().manual_seed(1)
    saved, t0 = {}, time.time()
    def batch_fn(step):
        if step in snaps:
            saved[step] = (copy.deepcopy(m.state_dict()), time.time() - t0)
            torch.save({"sd": saved[step][0], "sec": saved[step][1], "kind": kind}, f"/tmp/ft6/{tag or kind + '-' + corpus_name}-{step}.pt")
        x, y = get_batch(ids, T, 32, generator=gen)
        if kind == "gpt":
            return x, y
        return mask_tokens(x, MASK_ID, V, protected=torch.tensor([PAD_ID]), generator=gen)
    h = train(supervised_step(m, opt, lambda mm, b: mm(b[0], b[1])[1], batch_fn, grad_clip=1.0, scheduler=sched),
              steps, modules={"model": m}, progress=False)
    saved[steps] = (copy.deepcopy(m.state_dict()), h.seconds)
    L = h.logs["loss"]
    log(f"  {steps} steps, loss {sum(L[:20]) / 20:.3f} -> {sum(L[-20:]) / 20:.3f}, {h.seconds:.0f} s; snaps {[(s, round(v[1])) for s, v in saved.items()]}")
    for s, (sd, sec) in saved.items():
        torch.save({"sd": sd, "sec": sec, "kind": kind}, f"/tmp/ft6/{tag or kind + '-' + corpus_name}-{s}.pt")
    return saved
def load(name):
    import os
    p = torch.load(f"/tmp/ft6/{name}.pt" if os.path.exists(f"/tmp/ft6/{name}.pt") else f"/tmp/ft4/{name}.pt")
    m = make(p["kind"]); m.load_state_dict(p["sd"])
    return m, p["sec"]
def finetune(body, n, lr, label, steps=200, seed=0, pooling="mean", lpft=False):
    torch.manual_seed(seed)
    clf = SequenceClassifier(copy.deepcopy(body), K, pooling=pooling)
    x, l, y = tr_x[:n], tr_l[:n], tr_y[:n]
    extra = ""
    if lpft:
        freeze(clf.body)
        fit_classifier(clf, x, l, y, steps, 3e-3, seed=seed, progress=False)
        extra = f" LP {(predict_classes(clf, va_x, va_l) == va_y).float().mean().item():.3f} ->"
        for p in clf.body.parameters():
            p.requires_grad_(True)
    h = fit_classifier(clf, x, l, y, steps, lr, seed=seed, progress=False)
    c = predict_classes(clf, va_x, va_l) == va_y
    L = h.logs["loss"]
    log(f"RESULT {label:34} n={n:5d} lr={lr:g} pool={pooling} seed={seed}:{extra} val {c.float().mean().item():.3f} "
        f"(train loss {sum(L[-20:]) / 20:.3f}, {h.seconds:.0f} s)")
    torch.save(c, f"/tmp/ft6/c-{label}-{n}-{pooling}-{seed}{'-lpft' if lpft else ''}.pt")
    return c
# ------------------------------------------------------------------ ft6: LoRA on the pre-trained body
TARGETS = {"attn": ("attn.qkv", "attn.proj"), "qkv": ("attn.qkv",), "mlp": ("mlp.fc", "mlp.proj"),
           "all": ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")}
def lora(body, n, r, alpha, lr, where="attn", steps=200, seed=0, lp=False, label="gpt1800", ln=False):
    """LoRA fine-tuning: the head and the A, B matrices train (fit_classifier, 200 steps); lp: first 200 head-only
    steps at 3e-3 on the frozen body (as ft4's LP-FT), then the LoRA steps."""
    torch.manual_seed(seed)
    clf = SequenceClassifier(copy.deepcopy(body), K, pooling="mean")
    x, l, y = tr_x[:n], tr_l[:n], tr_y[:n]
    extra = ""
    if lp:
        freeze(clf.body)
        fit_classifier(clf, x, l, y, steps, 3e-3, seed=seed, progress=False)
        extra = f" LP {(predict_classes(clf, va_x, va_l) == va_y).float().mean().item():.3f} ->"
    add_lora(clf.body, r, alpha, targets=TARGETS[where])
    if ln:   # also the LayerNorm gains and shifts (ln1, ln2, ln_f), as in LoRA practice for small models
        for pn, p in clf.body.named_parameters():
            if pn.split(".")[-2].startswith("ln"):
                p.requires_grad_(True)
    tr, tot = parameter_share(clf)
    h = fit_classifier(clf, x, l, y, steps, lr, seed=seed, progress=False)
    c = predict_classes(clf, va_x, va_l) == va_y
    L = h.logs["loss"]
    name = f"lora-{label}-{where}-r{r}-a{alpha:g}-lr{lr:g}{'-lp' if lp else ''}{'-ln' if ln else ''}"
    log(f"RESULT {name:40} n={n:5d} seed={seed}: share {100 * tr / tot:.2f}% ({tr}/{tot}){extra} val "
        f"{c.float().mean().item():.3f} (train loss {sum(L[-20:]) / 20:.3f}, {h.seconds:.0f} s)")
    torch.save(c, f"/tmp/ft6/c-{name}-{n}-{seed}.pt")
    return c
def run_all(jobs, budget=290):
    """jobs: list of zero-argument callables; skip the rest once another would pass the budget (s since start)."""
    last = 0
    for j in jobs:
        t = time.time()
        if t - T0 + last > budget:
            log("SKIPPED (time budget):", len(jobs) - jobs.index(j), "jobs left"); break
        j(); last = time.time() - t
    log("done")
