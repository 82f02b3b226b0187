r"""Chapter 3's explorables: the geometry of one WN step (step size), and self-stabilization in
a network (learning rate x gradient noise)."""

from __future__ import annotations

from normlab.ch3 import figures, growth, stabilization
from normlab.explore import Explorable, Slider


def geometry_explorable() -> Explorable:
    sliders = [Slider("lr", "step size \u03b7", growth.GEO_LRS, default=growth.GEO_LRS[9], log=True,
                      fmt="{:.3g}")]
    return Explorable(
        growth.geometry_compute, sliders, figures.plot_geometry,
        title="The geometry of a weight-normalized step",
        caption="One unit with two inputs and weight normalization: the direction v, the gradient "
                "step dv (orthogonal to v), the new v' outside the circle of radius ‖v‖, and the "
                "next steps; the norm against the prediction √(1 + c²) per step; and the loss "
                "with WN and with the same steps taken on w directly (which diverges for large "
                "steps), for the chosen step size.",
        grid_fn=growth.geometry_grid, number="3.2",
        alt="Three panels. Left: in the plane, the unit circle, the vector v along the x axis, an "
            "orange step at right angles to it and the new, longer v' ending outside the circle, "
            "then a trail of dots turning towards the dotted target direction. Middle: the norm "
            "of v per step, measured dots on the predicted line. Right: the loss per step on a "
            "log axis for steps on v and for the same steps on w.",
        notice="Follow the trail of dots on the left and the two loss curves on the right as "
               "you move the step size from its smallest to its largest value.")


def stabilization_explorable() -> Explorable:
    sliders = [Slider("lr", "learning rate (log)", stabilization.LRS, default=1.0, log=True,
                      fmt="{:.3g}"),
               Slider("noise", "gradient noise \u03c3", stabilization.NOISES, default=0.05,
                      fmt="{:.2g}")]
    return Explorable(
        stabilization.compute_stabilization, sliders, figures.plot_stabilization,
        title="Self-stabilization: learning rate and gradient noise, with and without WN",
        caption="Training loss, the first hidden layer's mean column norm (‖v‖ with WN, ‖W‖ "
                "without) and its effective learning rate ηg²/‖v‖² (η without WN) against "
                "SGD step, for a digits MLP trained with Gaussian noise of the chosen size added to "
                "every hidden weight's gradient; a diverged run is marked.",
        grid_fn=stabilization.stabilization_grid, number="3.3",
        alt="Three panels against SGD step, with and without WN: the training loss, the first "
            "hidden layer's mean column norm and its effective learning rate, all on log axes. "
            "With noise both norms climb, but only WN's effective learning rate falls; the plain "
            "network's stays flat at the learning rate, and its loss stays higher.",
        notice="Keep the learning rate at 1 and move the noise slider: watch the middle and "
               "right panels (norm, effective learning rate) of both networks, then the loss.")


# The chapter's explorables, by name (the benchmark times each one's live slider).
EXPLORABLES = {"geometry": geometry_explorable, "stabilization": stabilization_explorable}
