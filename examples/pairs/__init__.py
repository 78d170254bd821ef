"""Model pairs for `mnist-parity pair` (docs/pair.md): each module has a `keras_model` and a
`torch_model` builder. project_mlp and project_cnn are this project's own models; small_mlp and
small_cnn are hand-written ports that agree; each other module makes ONE classic porting slip in one
of them, on the line marked "the slip"."""
