"""Evaluation: mean loss, accuracy and the confusion matrix, in eval mode without gradients."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, num_classes: int = 10):
    """(loss, accuracy, confusion matrix [true][predicted]) over every sample of the loader."""
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total, count = 0.0, 0
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        total += loss_fn(logits, labels).item()
        count += len(labels)
        pairs = labels.cpu() * num_classes + logits.argmax(1).cpu()
        confusion += torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes)
    accuracy = confusion.diagonal().sum().item() / count
    return total / count, accuracy, confusion.tolist()
