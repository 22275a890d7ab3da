"""The classes componentize-py exports: Keel's ``orchestrators``, ``activities`` and ``manifest`` interfaces,
dispatching by name to the functions registered with ``@orchestrator`` and ``@activity``.
It must never be imported outside a component build: it subclasses the generated ``wit_world`` bindings.
The build script generates the entry module that imports the app and then these classes.
"""

from wit_world import exports

import keel_sdk


class Orchestrators(exports.Orchestrators):
    def run(self, name: str, input: str) -> str:
        return keel_sdk._run_orchestrator(name, input)


class Activities(exports.Activities):
    def run(self, name: str, input: str) -> str:
        return keel_sdk._run_activity(name, input)


class Manifest(exports.Manifest):
    def describe(self):
        return keel_sdk._describe()
