"""The org schema from the project's own Salesforce source (``salesforce/force-app``, SFDX
source format): custom objects, platform events and custom metadata types with their fields,
custom metadata records, and permission sets. The simulator parses it at start-up, so what the
functions read and write must exist in the metadata an admin deploys, with its types, lengths,
required fields, restricted picklists and field-level security.

Standard objects (``Case``, ``User``, ``PermissionSet`` ...) are Salesforce's, not the
project's; they stay in ``standard_objects.yaml``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
SOURCE_ENV = "SOVGW_SALESFORCE_SOURCE"

# Metadata API field types → the simulator's value types.
FIELD_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Email": "email",
    "Phone": "phone",
    "Url": "string",
    "Picklist": "picklist",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "AutoNumber": "autonumber",
}
# The fields every custom metadata record has besides its custom ones.
CMDT_FIELDS = ("DeveloperName", "MasterLabel", "Label", "QualifiedApiName")


# What the simulator checks a value against (``String`` limits when the metadata gives none).
STRING_LIMITS = {"string": 255, "email": 80, "phone": 40, "picklist": 255, "textarea": 131_072}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool
    length: int | None = None
    picklist: tuple[str, ...] | None = None  # the values of a restricted picklist

    @property
    def max_length(self) -> int | None:
        return self.length or STRING_LIMITS.get(self.type)


@dataclass(frozen=True)
class SourceObject:
    name: str
    kind: str  # sobject | platform_event | custom_metadata
    fields: tuple[FieldSpec, ...]
    external_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectAccess:
    read: bool
    create: bool
    edit: bool
    delete: bool


@dataclass(frozen=True)
class PermissionSetSource:
    """What one permission set grants: object permissions, field-level security (readable,
    editable per ``Object.Field``), custom metadata types and user permissions."""

    name: str
    label: str
    objects: dict[str, ObjectAccess] = field(default_factory=dict)
    fields: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    custom_metadata_types: frozenset[str] = frozenset()
    user_permissions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ProjectMetadata:
    objects: tuple[SourceObject, ...]
    custom_metadata_records: tuple[tuple[str, dict[str, str]], ...]
    permission_sets: dict[str, PermissionSetSource]


class MetadataError(ValueError):
    """The Salesforce source cannot be read as the simulator needs it."""


def default_source() -> Path:
    """``$SOVGW_SALESFORCE_SOURCE``, else the repository's ``salesforce/force-app``."""
    configured = os.environ.get(SOURCE_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "salesforce" / "force-app"


def _xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()  # noqa: S314 (the project's own metadata, not input)
    except ET.ParseError as error:
        raise MetadataError(f"{path}: not valid XML ({error})") from None


def _text(node: ET.Element, name: str, default: str = "") -> str:
    return node.findtext(f"md:{name}", default, NS).strip()


def _flag(node: ET.Element, name: str) -> bool:
    return _text(node, name) == "true"


def _field(path: Path) -> tuple[FieldSpec, bool]:
    """The field and whether it is an external id."""
    node = _xml(path)
    name = _text(node, "fullName") or path.name.removesuffix(".field-meta.xml")
    sf_type = _text(node, "type")
    if sf_type == "Number":
        kind = "int" if _text(node, "scale", "0") == "0" else "double"
    elif sf_type in FIELD_TYPES:
        kind = FIELD_TYPES[sf_type]
    else:
        raise MetadataError(f"{path}: field type {sf_type or '(none)'} is not simulated")
    picklist = None
    value_set = node.find("md:valueSet", NS)
    if value_set is not None and _flag(value_set, "restricted"):
        picklist = tuple(
            _text(value, "fullName")
            for value in value_set.findall("md:valueSetDefinition/md:value", NS)
        )
    length = _text(node, "length")
    spec = FieldSpec(
        name=name,
        type=kind,
        required=_flag(node, "required"),
        length=int(length) if length else None,
        picklist=picklist,
    )
    return spec, _flag(node, "externalId")


def _object(folder: Path) -> SourceObject:
    name = folder.name
    if not (folder / f"{name}.object-meta.xml").is_file():
        raise MetadataError(f"{folder}: no {name}.object-meta.xml")
    kind = {"__e": "platform_event", "__mdt": "custom_metadata"}.get(
        name[name.rfind("__") :], "sobject"
    )
    parsed = [_field(path) for path in sorted((folder / "fields").glob("*.field-meta.xml"))]
    return SourceObject(
        name,
        kind,
        tuple(spec for spec, _ in parsed),
        tuple(spec.name for spec, external in parsed if external),
    )


def _access(node: ET.Element) -> ObjectAccess:
    return ObjectAccess(
        read=_flag(node, "allowRead"),
        create=_flag(node, "allowCreate"),
        edit=_flag(node, "allowEdit"),
        delete=_flag(node, "allowDelete"),
    )


def _permission_set(path: Path) -> PermissionSetSource:
    node = _xml(path)
    name = path.name.removesuffix(".permissionset-meta.xml")
    return PermissionSetSource(
        name=name,
        label=_text(node, "label") or name,
        objects={
            _text(grant, "object").lower(): _access(grant)
            for grant in node.findall("md:objectPermissions", NS)
        },
        fields={
            _text(grant, "field").lower(): (_flag(grant, "readable"), _flag(grant, "editable"))
            for grant in node.findall("md:fieldPermissions", NS)
        },
        custom_metadata_types=frozenset(
            _text(grant, "name").lower()
            for grant in node.findall("md:customMetadataTypeAccesses", NS)
            if _flag(grant, "enabled")
        ),
        user_permissions=frozenset(
            _text(grant, "name")
            for grant in node.findall("md:userPermissions", NS)
            if _flag(grant, "enabled")
        ),
    )


def _custom_metadata_record(path: Path) -> tuple[str, dict[str, str]]:
    type_name, developer_name = path.name.removesuffix(".md-meta.xml").split(".", 1)
    node = _xml(path)
    label = _text(node, "label") or developer_name
    values = {
        "DeveloperName": developer_name,
        "MasterLabel": label,
        "Label": label,
        "QualifiedApiName": developer_name,
    }
    for value in node.findall("md:values", NS):
        values[_text(value, "field")] = _text(value, "value")
    return f"{type_name}__mdt", values


def load_project(source: Path) -> ProjectMetadata:
    """Every object, custom metadata record and permission set under ``source`` (a package
    directory such as ``force-app``)."""
    default = source / "main" / "default"
    if not default.is_dir():
        raise MetadataError(f"{source}: not an SFDX package directory (no main/default)")
    return ProjectMetadata(
        objects=tuple(
            _object(folder) for folder in sorted((default / "objects").iterdir()) if folder.is_dir()
        ),
        custom_metadata_records=tuple(
            _custom_metadata_record(path)
            for path in sorted((default / "customMetadata").glob("*.md-meta.xml"))
        ),
        permission_sets={
            p.name: p
            for p in map(
                _permission_set,
                sorted((default / "permissionsets").glob("*.permissionset-meta.xml")),
            )
        },
    )
