# %% [markdown]
# # 01 · Generative models: density, sampling, likelihood
#
# **What you will learn**
# - what a generative model is: a distribution $p_\theta(x)$ you can *evaluate* (density) and/or *sample*;
# - why maximum likelihood is the same as minimising $\mathrm{KL}(p_\text{data} \,\|\, p_\theta)$ — derived, then checked numerically;
# - how to fit a Gaussian mixture to a 2-D toy distribution by gradient descent and sample from it;
# - the four families ahead (GAN, VAE, autoregressive, diffusion) in one picture, and the chain rule that makes
#   autoregressive models exact;
# - how samples are judged: likelihood versus sample quality, and why the two can disagree.
#
# **Prerequisites:** chapter 00 (the toy distributions, `train`), basic probability (densities, expectations).
#
# **Time needed:** under a minute on a 2-core CPU (full mode; a workshop runs the same budgets), seconds on a GPU.

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %%
from aigc_course.config import budget, banner
print(banner())

# %%
import math

import torch

from aigc_course.data import mode_coverage, toy_distribution
from aigc_course.device import seed_everything
from aigc_course.viz import new_figure, plot_density_2d, plot_samples_2d

torch.set_num_threads(1)   # tiny models: one thread is fastest (and kindest to a shared machine)
seed_everything(0)

# %% [markdown]
# ## 1. Three things a generative model can do
#
# A generative model is a probability distribution $p_\theta(x)$ over data $x$, with parameters $\theta$
# learnt from examples $x_1, \dots, x_N \sim p_\text{data}$. Depending on the family, it lets you
#
# 1. **evaluate the density** $p_\theta(x)$ (or its log) of any point — "how plausible is this $x$?";
# 2. **sample** new points $x \sim p_\theta$ — "show me something new";
# 3. **score the data** by its likelihood $\prod_i p_\theta(x_i)$, which is what training maximises.
#
# The simplest example is the 1-D Gaussian,
# $$\log \mathcal N(x; \mu, \sigma^2) = -\frac{(x-\mu)^2}{2\sigma^2} - \log\sigma - \tfrac12 \log 2\pi . \tag{1.1}$$
# We write it by hand and compare with `torch.distributions`; then check that it integrates to 1 and that
# sampling by $x = \mu + \sigma\varepsilon$, $\varepsilon \sim \mathcal N(0, 1)$, gives the right moments.

# %%
# check (1.1): against torch.distributions, total mass 1, and the moments of x = mu + sigma * eps
def log_normal(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)


mu, sigma = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)
xs = torch.linspace(-8, 10, 20001, dtype=torch.float64)
dx = float(xs[1] - xs[0])
assert torch.allclose(log_normal(xs, mu, sigma), torch.distributions.Normal(mu, sigma).log_prob(xs))
mass = (log_normal(xs, mu, sigma).exp() * dx).sum().item()
samples = mu + sigma * torch.randn(budget(full=200_000, fast=20_000), dtype=torch.float64)
print(f"∫ p(x) dx = {mass:.6f}; sample mean {samples.mean():.3f} (μ = 1), sample std {samples.std():.3f} (σ = 0.7)")
assert abs(mass - 1) < 1e-6
assert abs(samples.mean() - 1) < 0.03 and abs(samples.std() - 0.7) < 0.03

# %% [markdown]
# ## 2. Maximum likelihood = minimising KL(p_data ‖ p_θ)
#
# The Kullback–Leibler divergence from the data distribution to the model is
# $$\mathrm{KL}(p_\text{data}\,\|\,p_\theta) = \mathbb E_{x\sim p_\text{data}}\big[\log p_\text{data}(x) - \log p_\theta(x)\big]
# = \underbrace{-H(p_\text{data})}_{\text{does not depend on }\theta} \;-\; \mathbb E_{x\sim p_\text{data}}[\log p_\theta(x)] . \tag{1.2}$$
# The first term is fixed; so minimising KL over $\theta$ is the same as **maximising the expected
# log-likelihood** $\mathbb E_{p_\text{data}}[\log p_\theta(x)]$. With data we replace the expectation by the
# average over the training set, $\frac1N\sum_i \log p_\theta(x_i)$ — which is maximum likelihood. Two
# consequences: KL $\ge 0$, so the average NLL is bounded below by the data's entropy $H(p_\text{data})$;
# and the direction matters: $\mathrm{KL}(p_\text{data}\|p_\theta)$ punishes a model that puts *no* mass
# where data lives ("mode covering"). (Logarithms are natural, so these quantities are in **nats**; divide by
# $\log 2$ for bits. $H(p) = -\mathbb E_p[\log p]$ is the **entropy**.)
#
# **Check.** Let $p_\text{data}$ be a *bimodal* 1-D mixture and the model family be single Gaussians.
# (a) Minimise KL by quadrature on a grid with gradient descent over $(\mu, \log\sigma)$.
# (b) Fit by maximum likelihood on samples (closed form: $\hat\mu$ = sample mean, $\hat\sigma^2$ = mean
# squared deviation). Both should land on the same Gaussian — the one that matches the mean and variance
# of $p_\text{data}$ (moment matching).

# %%
def p_data_1d(x):
    """A bimodal density: 0.3 N(-2, 0.5²) + 0.7 N(1.5, 1)."""
    return 0.3 * log_normal(x, torch.tensor(-2.0, dtype=x.dtype), torch.tensor(0.5, dtype=x.dtype)).exp() + \
        0.7 * log_normal(x, torch.tensor(1.5, dtype=x.dtype), torch.tensor(1.0, dtype=x.dtype)).exp()


grid = torch.linspace(-10, 10, 2001, dtype=torch.float64)
dg = float(grid[1] - grid[0])
p = p_data_1d(grid)
theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)       # (μ, log σ)
opt = torch.optim.Adam([theta], lr=0.05)
for _ in range(budget(full=1500, fast=600)):
    kl = (p * (p.log() - log_normal(grid, theta[0], theta[1].exp())) * dg).sum()   # KL by quadrature
    opt.zero_grad()
    kl.backward()
    opt.step()

n = budget(full=400_000, fast=100_000)
comp = torch.rand(n, dtype=torch.float64) < 0.3
x_data = torch.where(comp, -2.0 + 0.5 * torch.randn(n, dtype=torch.float64), 1.5 + torch.randn(n, dtype=torch.float64))
mu_mle, sigma_mle = x_data.mean(), x_data.var(unbiased=False).sqrt()
true_mean = 0.3 * -2 + 0.7 * 1.5
true_var = 0.3 * (0.25 + 4) + 0.7 * (1 + 2.25) - true_mean ** 2
print(f"KL minimiser : μ = {theta[0].item():.4f}, σ = {theta[1].exp().item():.4f}  (KL = {kl.item():.4f} nats)")
print(f"MLE          : μ = {mu_mle.item():.4f}, σ = {sigma_mle.item():.4f}")
print(f"moments      : μ = {true_mean:.4f}, σ = {math.sqrt(true_var):.4f}")
assert abs(theta[0].item() - true_mean) < 1e-3 and abs(theta[1].exp().item() - math.sqrt(true_var)) < 1e-3
assert abs(mu_mle.item() - theta[0].item()) < 0.02 and abs(sigma_mle.item() - theta[1].exp().item()) < 0.02

# %% [markdown]
# And the identity itself, term by term: the mean NLL of the data under *any* model equals
# $H(p_\text{data}) + \mathrm{KL}(p_\text{data}\|p_\theta)$. We check it for the fitted Gaussian, with the
# entropy and the KL by quadrature and the NLL by Monte Carlo.

# %%
# check (1.2): mean NLL (Monte Carlo) = entropy + KL (both by quadrature)
entropy = -(p * p.log() * dg).sum().item()
mean_nll = -log_normal(x_data, theta[0].detach(), theta[1].detach().exp()).mean().item()
print(f"mean NLL {mean_nll:.4f} = H {entropy:.4f} + KL {kl.item():.4f} = {entropy + kl.item():.4f}")
assert abs(mean_nll - (entropy + kl.item())) < 0.01

fig = new_figure(6, 3)
ax = fig.add_subplot()
ax.plot(grid, p, label="$p_{data}$ (bimodal)")
ax.plot(grid, log_normal(grid, theta[0], theta[1].exp()).exp().detach(), label="best Gaussian (min KL = MLE)")
ax.set_xlim(-5, 5)
ax.legend(fontsize=8)
ax.set_title("maximum likelihood spreads mass to cover both modes")
fig

# %% [markdown]
# ## 3. A Gaussian mixture fitted by gradient descent
#
# One Gaussian cannot have two bumps. A **mixture** can:
# $$p_\theta(x) = \sum_{k=1}^K \pi_k\,\mathcal N(x;\mu_k,\mathrm{diag}(\sigma_k^2)),\qquad
# \log p_\theta(x) = \operatorname{logsumexp}_k\big[\log\pi_k + \log\mathcal N(x;\mu_k,\sigma_k^2)\big], \tag{1.3}$$
# where $\operatorname{logsumexp}_k a_k = \log\sum_k e^{a_k}$, computed as $\max_k a_k + \log\sum_k e^{a_k - \max a}$ so
# that it never underflows, and with $\pi = \mathrm{softmax}(w)$ and $\sigma = e^{s}$ so that every parameter is
# unconstrained (any real $w$, $s$ gives valid weights and scales). Sampling is
# *ancestral*: pick $k \sim \mathrm{Categorical}(\pi)$, then $x = \mu_k + \sigma_k \odot \varepsilon$.
#
# The means start on data points chosen far apart (farthest-point initialisation: with random starts, two
# components can end up sharing a mode — a local optimum of the likelihood). We build the log-density in
# the open and check it against the library's `GaussianMixture`
# (`aigc_course/models/mixture.py`), then fit 8 components to the ring of 8 Gaussians.

# %%
from aigc_course.models.mixture import GaussianMixture, MixtureConfig, fit_mixture, nll

ring = toy_distribution("ring", std=0.1)
data = ring.sample(budget(full=20_000, fast=4_000), generator=torch.Generator().manual_seed(0))
held_out = ring.sample(5_000, generator=torch.Generator().manual_seed(1))

cfg = MixtureConfig(n_components=8, dim=2, init_std=0.5)
model = GaussianMixture.from_data(cfg, data, generator=torch.Generator().manual_seed(2))


def mixture_log_prob_ours(x, logits, means, log_std):
    diff = (x[:, None, :] - means[None]) / log_std.exp()[None]                               # (N, K, 2)
    log_comp = -0.5 * diff.pow(2).sum(-1) - log_std.sum(-1)[None] - math.log(2 * math.pi)    # (N, K)
    return torch.logsumexp(torch.log_softmax(logits, 0)[None] + log_comp, dim=1)            # (N,)


# check (1.3): our logsumexp form = the library's = torch's MixtureSameFamily (an independent implementation)
with torch.no_grad():
    ours = mixture_log_prob_ours(held_out, model.logits, model.means, model.log_std)
    assert torch.allclose(ours, model.log_prob(held_out), atol=1e-5)
    components = torch.distributions.Independent(torch.distributions.Normal(model.means, model.log_std.exp()), 1)
    torch_mixture = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=model.logits),
                                                          components)
    assert torch.allclose(ours, torch_mixture.log_prob(held_out), atol=1e-5)

# %% [markdown]
# Training: Adam on the minibatch NLL, through the course's `train` loop (progress bar and live loss curve).
# Because the ring has an exact density, we can also report the **true KL** of the fit on held-out data,
# $\mathrm{KL} \approx \frac1M\sum_j[\log p_\text{data}(x_j) - \log p_\theta(x_j)]$, which should approach 0.

# %%
from aigc_course.claims import claim
from aigc_course.train import LivePlot

history = fit_mixture(model, data, steps=budget(full=1500, fast=150), lr=0.05, batch_size=512,
                      callbacks=[LivePlot(every=budget(full=250, fast=50))])
with torch.no_grad():
    test_nll = nll(model, held_out).item()
    true_nll = -ring.log_prob(held_out).mean().item()
print(f"held-out NLL {test_nll:.3f} nats; the data's own entropy {true_nll:.3f}; KL ≈ {test_nll - true_nll:.3f} nats")
assert test_nll >= true_nll - 0.05                       # KL ≥ 0 (Gibbs' inequality), up to Monte-Carlo error
claim("mixture on the ring: KL(p_data || p_theta), nats", test_nll - true_nll, stated=0.014, low=-0.05, high=0.05,
      workshop=(-0.05, 0.05))

# %%
fitted = model.sample(2000, generator=torch.Generator().manual_seed(3))
fig = new_figure(8.4, 4)
left, right = fig.subplots(1, 2)
plot_samples_2d(fitted, reference=held_out, modes=ring.modes, lim=3, title="samples from the fitted mixture", ax=left)
plot_density_2d(model.log_prob, lim=3, title="learnt density $p_\\theta(x)$", ax=right)
fig

# %% [markdown]
# ## 4. The families ahead, in one picture
#
# A mixture works in 2-D; images have thousands of dimensions. The four families of this course each make
# a different trade between *evaluating* $p_\theta(x)$ and *sampling* from it:
#
# | family | how it samples | density? | chapters |
# |---|---|---|---|
# | **GAN** | one pass $x = G(z)$, trained against a discriminator | no | 02–03 |
# | **VAE** | $z\sim\mathcal N(0,I)$, $x\sim p_\theta(x\mid z)$, trained on a lower bound (ELBO) | a bound | 04– |
# | **autoregressive** | one coordinate (token, pixel) at a time, by the chain rule (1.4) | exact | 06–08 |
# | **diffusion** | start from noise and denoise in many small steps | a bound | 10 |

# %% [markdown]
# The autoregressive family rests on one identity of probability, the **chain rule**: any joint distribution
# factorises into conditionals, each coordinate given the ones before it,
# $$p(x_1, \dots, x_T) = \prod_{t=1}^{T} p(x_t \mid x_1, \dots, x_{t-1}). \tag{1.4}$$
# It is exact, for any order of the coordinates: no assumption is made, so the density stays exact. A model
# only has to learn each conditional (chapter 07's transformer learns them for text), and it samples
# *ancestrally*: $x_1$ first, then $x_2$ given $x_1$, and so on. We check both on a random joint of three
# variables with four values each: the product of its conditionals rebuilds the table, and sampling one
# coordinate at a time reproduces its frequencies.

# %%
# check (1.4): the product of conditionals is the joint, and ancestral sampling reproduces it
joint = torch.rand(4, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
joint /= joint.sum()                                                  # p(x1, x2, x3), (4, 4, 4)
p1 = joint.sum(dim=(1, 2))                                            # p(x1), (4,)
p2_given_1 = joint.sum(dim=2) / p1[:, None]                           # p(x2 | x1), (4, 4)
p3_given_12 = joint / joint.sum(dim=2, keepdim=True)                  # p(x3 | x1, x2), (4, 4, 4)
assert torch.allclose(p1[:, None, None] * p2_given_1[:, :, None] * p3_given_12, joint)
n_anc = budget(full=400_000, fast=100_000)
x1 = torch.multinomial(p1, n_anc, replacement=True)                   # (n,)
x2 = torch.multinomial(p2_given_1[x1], 1).squeeze(1)                  # (n,): one draw per row's conditional
x3 = torch.multinomial(p3_given_12[x1, x2], 1).squeeze(1)
freq = torch.bincount(x1 * 16 + x2 * 4 + x3, minlength=64).double().reshape(4, 4, 4) / n_anc
print(f"largest |frequency − p(x)| over the 64 cells: {(freq - joint).abs().max():.4f} (n = {n_anc:,})")
assert (freq - joint).abs().max() < 5 * (joint * (1 - joint) / n_anc).sqrt().max()

# %%
fig = new_figure(9, 3.2)
axes = fig.subplots(1, 4)
boxes = {
    "GAN": ["z ~ N(0, I)", "generator G", "x = G(z)", "discriminator: real?"],
    "VAE": ["x", "encoder q(z|x)", "z", "decoder p(x|z)"],
    "Autoregressive": ["x_1", "p(x_2 | x_1)", "p(x_3 | x_1, x_2)", "..."],
    "Diffusion": ["x_T (noise)", "denoise", "denoise", "x_0 (data)"],
}
for ax, (name, steps) in zip(axes, boxes.items()):
    ax.set_axis_off()
    ax.set_title(name, fontsize=10)
    for i, text in enumerate(steps):
        y = 0.85 - 0.25 * i
        ax.text(0.5, y, text, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round", "fc": "C0" if i % 2 else "0.9", "alpha": 0.3})
        if i < len(steps) - 1:
            ax.annotate("", xy=(0.5, y - 0.17), xytext=(0.5, y - 0.07), arrowprops={"arrowstyle": "->"})
fig

# %% [markdown]
# ## 5. How samples are judged: likelihood versus sample quality
#
# Two ways to say a model is good: a **high held-out log-likelihood** (it gives the test data high density),
# or **good samples** (they look like data). They can disagree (Theis et al., 2016). Three models of the ring:
#
# - the fitted mixture above;
# - a **memoriser**: a mixture with one tiny Gaussian on each of 200 training points — its samples are
#   near-copies of real points (perfect-looking), yet its held-out likelihood is terrible;
# - a **blur**: one broad Gaussian matching the data's mean and covariance — decent likelihood for a
#   single Gaussian, but most of its samples fall between the modes.
#
# Sample quality is measured with `mode_coverage`: the share of samples within 3 σ of a mode, and how
# many of the 8 modes they reach.

# %%
def gmm_from(means, std, logits=None):
    m = GaussianMixture(MixtureConfig(n_components=len(means), dim=2, init_std=std), means=means)
    if logits is not None:
        m.logits.data = logits
    return m


memoriser = gmm_from(data[:200], 0.005)
blur = gmm_from(data.mean(0, keepdim=True), float(data.std()))
rows = []
for name, m in [("fitted mixture", model), ("memoriser", memoriser), ("blur", blur)]:
    with torch.no_grad():
        ll = m.log_prob(held_out).mean().item()
    cov = mode_coverage(m.sample(2000, generator=torch.Generator().manual_seed(4)), ring)
    rows.append((name, ll, cov["high_quality"], cov["modes_covered"]))
    print(f"{name:15s} held-out log-likelihood {ll:9.2f} nats | high-quality samples {cov['high_quality']:.0%} "
          f"| modes {cov['modes_covered']}/8")
assert rows[1][2] > rows[2][2] and rows[1][1] < rows[2][1]   # memoriser: better samples, worse likelihood
claim("fitted mixture: share of high-quality samples", rows[0][2], stated=0.98, low=0.9, high=1.0,
      workshop=(0.9, 1.0))
claim("fitted mixture: modes covered (of 8)", rows[0][3], stated=8, low=8, high=8, workshop=(8, 8))
claim("memoriser: held-out log-likelihood, nats", rows[1][1], stated=-53.4, high=-20.0, workshop=(None, -20.0))
claim("blur: share of high-quality samples", rows[2][2], stated=0.06, high=0.2, workshop=(None, 0.2))

# %% [markdown]
# The memoriser wins on samples and loses badly on likelihood; the blur is the other way round. Neither
# number alone tells the whole story — which is why the GAN chapters measure coverage and sample quality,
# and the VAE and language-model chapters report likelihoods (and why later chapters add Fréchet
# distances). Where each family shines:
#
# - **GANs**: sharp samples in one fast pass; no likelihood, and prone to dropping modes.
# - **VAEs**: a likelihood bound and a useful latent space; samples tend to be blurry.
# - **Autoregressive models**: exact likelihoods, the best text models; sampling is sequential (slow).
# - **Diffusion** (chapter 10): the best image samples today and a likelihood bound; many denoising steps per
#   sample (hundreds for DDPM; DDIM and flow matching cut them to 10–20, measured in chapter 10).

# %% [markdown]
# ## 6. Exercises
#
# Each cell holds a stub and a checker. Replace the `raise NotImplementedError` with your code and run the
# cell. Worked solutions: `solutions/01_generative_models_solutions.ipynb`.
#
# **Exercise 1.** The log-density of a 1-D Gaussian, elementwise.

# %% tags=["exercise"]
import math

import torch

from aigc_course.exercises import ch01


def my_gaussian_log_prob(x, mu, sigma):
    # YOUR CODE: log N(x; mu, sigma^2), elementwise (x, mu, sigma are tensors that broadcast)
    raise NotImplementedError


ch01.gaussian_log_prob(my_gaussian_log_prob)

# %% [markdown]
# **Exercise 2.** The KL divergence between two 1-D Gaussians in closed form. (Derive it from
# $\mathbb E_p[\log p - \log q]$ with $\mathbb E_p[(x-\mu_2)^2] = \sigma_1^2 + (\mu_1-\mu_2)^2$.)

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch01


def my_gaussian_kl(mu1, sigma1, mu2, sigma2):
    # YOUR CODE: KL( N(mu1, sigma1^2) || N(mu2, sigma2^2) ) in nats
    raise NotImplementedError


ch01.gaussian_kl(my_gaussian_kl)

# %% [markdown]
# **Exercise 3.** The log-density of a mixture of isotropic 2-D Gaussians, stable far from every mode.

# %% tags=["exercise"]
import math

import torch

from aigc_course.exercises import ch01


def my_mixture_log_prob(x, logits, means, stds):
    # x: (N, 2), logits: (K,), means: (K, 2), stds: (K,)  ->  (N,)
    # YOUR CODE: log sum_k softmax(logits)_k N(x; means_k, stds_k^2 I)
    raise NotImplementedError


ch01.mixture_log_prob(my_mixture_log_prob)

# %% [markdown]
# **Exercise 4.** The maximum-likelihood Gaussian for 1-D data: return `(mu, sigma)`.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch01


def my_mle_gaussian(x):
    # YOUR CODE: the (mu, sigma) that maximise sum_i log N(x_i; mu, sigma^2)
    raise NotImplementedError


ch01.mle_gaussian(my_mle_gaussian)

# %% [markdown]
# ## Summary
# - A generative model is a distribution $p_\theta(x)$; families differ in whether they can evaluate it,
#   sample it, or both.
# - Maximum likelihood minimises $\mathrm{KL}(p_\text{data}\|p_\theta)$; the mean NLL is $H(p_\text{data})$
#   plus that KL, so it can never beat the data's entropy.
# - A Gaussian mixture, trained by Adam on the NLL, fits the ring of 8 almost exactly (KL ≈ 0).
# - Likelihood and sample quality measure different things: a memoriser and a blur show how they disagree.
#
# **Pitfalls.** Computing $\log\sum\exp$ naively underflows (use `logsumexp`); a variance must be
# parametrised to stay positive ($\sigma = e^s$); the unbiased variance ($N-1$) is not the MLE;
# $\mathrm{KL}(p\|q) \ne \mathrm{KL}(q\|p)$.
#
# **Further reading.**
# - Theis, van den Oord, Bethge — *A note on the evaluation of generative models* (2016).
# - Bishop — *Pattern Recognition and Machine Learning*, ch. 9, mixture models and EM (2006).
# - Goodfellow — *NIPS 2016 Tutorial: Generative Adversarial Networks* (2016), section on maximum likelihood.
#
# ## What a full run reached
# Full mode on the shared 2-core CPU (several other jobs running), one torch thread, the whole notebook in
# **30 s**:
# - KL minimiser (quadrature) μ = 0.4500, σ = 1.8296 = the moments of $p_\text{data}$; MLE on 400 000
#   samples μ = 0.4434, σ = 1.8318; mean NLL 2.0243 = H 1.7934 + KL 0.2297 (= 2.0230, Monte-Carlo error);
# - 8-component mixture on the ring (1500 Adam steps): held-out NLL **0.337** nats against the data's
#   entropy 0.323, so **KL ≈ 0.014 nats**; 98 % high-quality samples, 8/8 modes;
# - likelihood vs samples: memoriser −53.4 nats held-out log-likelihood with 98 % good samples; blur
#   −3.54 nats with 6 % good samples; fitted mixture −0.34 nats with 98 %.
