"""The four ways in: presets and YAML mappings, Hugging Face config.json, scenario cards, and
the scenario loader that picks among them."""
