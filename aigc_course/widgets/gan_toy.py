"""Chapter 02's toy GAN trainer: pick learning rates, D steps per G step and the loss, press "train", and
watch the samples move over the ring of 8 Gaussians.

:class:`ToyGANSession` is the pure part (tested on its own): it holds G, D and their optimisers and trains
in chunks. :class:`ToyGANTrainer` only wires ipywidgets controls and an Output to a session.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from aigc_course.data import mode_coverage, toy_distribution
from aigc_course.models import gan
from aigc_course.viz import new_figure, plot_samples_2d
from aigc_course.widgets import LABEL_STYLE, int_in


@dataclass
class ToyGANSettings:
    """What the widget's controls set."""

    lr_g: float = 1e-3
    lr_d: float = 1e-3
    d_steps: int = 1             # D updates per G update
    loss: str = "non_saturating"  # one of gan.GAN_LOSSES
    data: str = "ring"           # ring or grid (mixtures with known modes, so coverage can be counted)
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in gan.GAN_LOSSES:
            raise ValueError(f"loss must be one of {gan.GAN_LOSSES}, got {self.loss!r}")
        if self.data not in ("ring", "grid"):
            raise ValueError(f"data must be 'ring' or 'grid', got {self.data!r}")


class ToyGANSession:
    """A GAN on a 2-D toy mixture that trains in chunks and reports samples and mode coverage."""

    def __init__(self, settings: ToyGANSettings | None = None, cfg: gan.ToyGANConfig | None = None):
        self.settings = settings or ToyGANSettings()
        s = self.settings
        torch.manual_seed(s.seed)
        self.dist = toy_distribution(s.data)
        self.cfg = cfg or gan.ToyGANConfig(latent_dim=2, hidden=64, depth=2)
        self.generator, self.discriminator = gan.build_toy_gan(self.cfg)
        betas = (0.5, 0.9) if s.loss == "wgan-gp" else (0.5, 0.999)
        self.opt_g, self.opt_d = gan.gan_optimizers(self.generator, self.discriminator, s.lr_g, s.lr_d, betas)
        self.rng = torch.Generator().manual_seed(s.seed)
        self.steps_done = 0
        self.logs: list[dict[str, float]] = []

    def set_learning_rates(self, lr_g: float, lr_d: float) -> None:
        """Change the learning rates of the running optimisers (training continues from where it is)."""
        for opt, lr in ((self.opt_g, lr_g), (self.opt_d, lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr
        self.settings.lr_g, self.settings.lr_d = lr_g, lr_d

    def train(self, steps: int) -> dict[str, float]:
        """Run ``steps`` GAN steps with the current settings; return the last losses and the coverage."""
        s = self.settings
        step = gan.gan_step(self.generator, self.discriminator, self.opt_g, self.opt_d,
                            gan.toy_sampler(self.dist, generator=self.rng),
                            gan.latent_sampler(self.cfg.latent_dim, generator=self.rng),
                            loss=s.loss, d_steps=s.d_steps, batch_size=s.batch_size, gp_weight=1.0, rng=self.rng)
        for _ in range(steps):
            self.steps_done += 1
            self.logs.append(step(self.steps_done))
        return {**(self.logs[-1] if self.logs else {}), **self.coverage()}

    def samples(self, n: int = 1000) -> torch.Tensor:
        return gan.generate(self.generator, n, seed=123)

    def coverage(self, n: int = 1000) -> dict[str, float]:
        cov = mode_coverage(self.samples(n), self.dist)
        return {"modes_covered": cov["modes_covered"], "n_modes": cov["n_modes"], "high_quality": cov["high_quality"]}

    def figure(self) -> Figure:
        fig = new_figure(4.4, 4.4)
        cov = self.coverage()
        reference = self.dist.sample(1000, generator=torch.Generator().manual_seed(0))
        plot_samples_2d(self.samples(), reference=reference, modes=self.dist.modes, lim=3.2, ax=fig.add_subplot(),
                        title=f"step {self.steps_done}: modes {cov['modes_covered']}/{cov['n_modes']}, "
                              f"high quality {cov['high_quality']:.0%}")
        return fig


class ToyGANTrainer:
    """Controls + an Output over a :class:`ToyGANSession`. ``.widget`` is what a notebook displays."""

    def __init__(self, chunk: int = 100, chunks_per_click: int = 5):
        import ipywidgets as widgets

        self.chunk = int_in("chunk", chunk, 1, 100_000)
        self.chunks_per_click = int_in("chunks_per_click", chunks_per_click, 1, 1000)
        self.lr_g = widgets.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1.5, description="lr G", style=LABEL_STYLE)
        self.lr_d = widgets.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1.5, description="lr D", style=LABEL_STYLE)
        self.d_steps = widgets.IntSlider(value=1, min=1, max=10, description="D steps / G", style=LABEL_STYLE)
        self.loss = widgets.Dropdown(options=list(gan.GAN_LOSSES), value="non_saturating", description="loss",
                                     style=LABEL_STYLE)
        self.train_button = widgets.Button(description=f"train {chunk * chunks_per_click} steps")
        self.reset_button = widgets.Button(description="reset")
        self.status = widgets.Label()
        self.next_settings = widgets.Label()                  # what the next "train" will use
        self.output = widgets.Output()
        self.train_button.on_click(lambda _: self.train())
        self.reset_button.on_click(lambda _: self.reset())
        for control in (self.lr_g, self.lr_d):
            control.observe(lambda _: self._set_learning_rates(), "value")
        self.d_steps.observe(lambda change: self._set_d_steps(change["new"]), "value")
        self.loss.observe(lambda _: self.reset(), "value")    # a new loss means a new game: start afresh
        self.widget = widgets.VBox([widgets.HBox([self.lr_g, self.lr_d]), widgets.HBox([self.d_steps, self.loss]),
                                    widgets.HBox([self.train_button, self.reset_button, self.status]),
                                    self.next_settings, self.output])
        self.reset()

    def _describe_settings(self) -> None:
        s = self.session.settings
        self.next_settings.value = (f"next {self.chunk * self.chunks_per_click} steps: lr G {s.lr_g:.1e}, "
                                    f"lr D {s.lr_d:.1e}, {s.d_steps} D step(s) per G step, loss {s.loss}")

    def _set_learning_rates(self) -> None:
        self.session.set_learning_rates(self.lr_g.value, self.lr_d.value)
        self._describe_settings()

    def _set_d_steps(self, value: int) -> None:
        self.session.settings.d_steps = value
        self._describe_settings()

    def _settings(self) -> ToyGANSettings:
        return ToyGANSettings(lr_g=self.lr_g.value, lr_d=self.lr_d.value, d_steps=self.d_steps.value,
                              loss=self.loss.value)

    def _show(self, result: dict | None = None) -> None:
        from IPython.display import display

        self.output.clear_output(wait=True)
        with self.output:
            display(self.session.figure())
        if result:
            self.status.value = (f"step {self.session.steps_done} | loss_d {result['loss_d']:.3f} | "
                                 f"loss_g {result['loss_g']:.3f} | modes {result['modes_covered']}/8")

    def reset(self) -> None:
        self.session = ToyGANSession(self._settings())
        self.result: dict | None = None
        self.status.value = "step 0"
        self._describe_settings()
        self._show()

    def train(self) -> dict:
        """Train ``chunks_per_click`` chunks, redrawing after each so the samples visibly move."""
        for _ in range(self.chunks_per_click):
            self.result = self.session.train(self.chunk)
            self._show(self.result)
        return self.result
