# mmpose's default runtime plus the plugin's (configs/_base_/plugin.py), for configs that do not
# start from an mmpose model config.
_base_ = ['mmpose::_base_/default_runtime.py', './plugin.py']

default_hooks = {{_base_.plugin_default_hooks}}
custom_hooks = {{_base_.plugin_custom_hooks}}
visualizer = dict(type={{_base_.plugin_visualizer_type}})
