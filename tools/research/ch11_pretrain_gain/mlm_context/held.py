# ruff: noqa
"""Section 1's measurements (held-out losses of the two objectives, left-to-right MLM) on the study's longer-trained
bodies: GPT 1,800 steps (ft4) and MLM 1,800 steps (ft6), ft4's tokenizer; held-out text = the docstrings the
pre-training text left out (those starting with a test or validation text)."""
import sys; sys.path.insert(0, "/tmp/ft4")
from lib import *
import torch.nn.functional as F
from aigc_course.models.encoder import fill_left_to_right
pre = set(unlabelled_docstrings(hidden, topics_only=False))
every = unlabelled_docstrings(TextTask(task.classes, [], task.train_labels[:0], [], task.test_labels[:0]), topics_only=False)
held_docs = [d for d in every if d not in pre]
held_ids = torch.tensor(bpe.encode("\n\n".join(held_docs)))
log(f"held-out docstrings {len(held_docs)}, {len(held_ids):,} tokens")
gpt, _ = load("gpt-all-L1800-1800")
p = torch.load("/tmp/ft6/mlm-all-L1800-1800.pt"); mlm = make("mlm"); mlm.load_state_dict(p["sd"])
gpt.eval(); mlm.eval()
@torch.no_grad()
def held_out_losses(gpt, mlm, n=256):
    g = torch.Generator().manual_seed(7)
    x, y = get_batch(held_ids, T, n, generator=g)
    inp, tgt = mask_tokens(x, MASK_ID, V, generator=g)
    mid = T // 2
    hid = x.clone(); hid[:, mid] = MASK_ID
    tail = torch.cat([x[:, 1:], torch.full_like(x[:, :1], MASK_ID)], 1)
    return {"GPT next": gpt(x, y)[1].item(), "MLM masked": mlm(inp, tgt)[1].item(),
            "MLM middle, both sides": F.cross_entropy(mlm(hid)[0][:, mid], x[:, mid]).item(),
            "MLM middle, left only": F.cross_entropy(mlm(hid[:, :mid + 1])[0][:, mid], x[:, mid]).item(),
            "GPT middle (left only)": F.cross_entropy(gpt(x[:, :mid])[0][:, -1], x[:, mid]).item(),
            "MLM continuing": F.cross_entropy(mlm(tail)[0][:, -1], y[:, -1]).item(),
            "GPT continuing": F.cross_entropy(gpt(x)[0][:, -1], y[:, -1]).item()}
counts = torch.bincount(held_ids, minlength=V).double(); q = counts[counts > 0] / counts.sum()
log(f"no-context entropy of the held-out tokens H = {-(q * q.log()).sum().item():.3f} nats")
for name in ("mlm-all-L1800-1800", "mlm-all-L1800-900"):
    p = torch.load(f"/tmp/ft6/{name}.pt"); mlm.load_state_dict(p["sd"])
    for k, v in held_out_losses(gpt, mlm).items():
        log(f"{name:20} {k:24} {v:.3f}")
p = torch.load("/tmp/ft6/mlm-all-L1800-1800.pt"); mlm.load_state_dict(p["sd"])
prompt = torch.tensor(bpe.encode("Return the list of "))
log("GPT greedy:", repr(bpe.decode(gpt.generate(prompt[None], 40, top_k=1)[0].tolist())))
log("MLM left to right:", repr(bpe.decode(fill_left_to_right(mlm, prompt, 40, MASK_ID).tolist())))
