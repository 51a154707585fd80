'''systemd_mock: a python-dbusmock template that serves org.freedesktop.systemd1 for the
systemd actuator's integration test (actuator_systemd.sh), and, run as a script, the
client that drives and reads it.

As a template (/usr/bin/python3 -m dbusmock --template systemd_mock.py [--system]):
  Manager at /org/freedesktop/systemd1 with
    LoadUnit(s) -> o          like systemd: an unknown but valid name loads as a unit
                              with LoadState "not-found"; an invalid name is InvalidArgs
    GetUnit(s) -> o           org.freedesktop.systemd1.NoSuchUnit for an unknown unit
    SetUnitProperties(sba(sv)) sets CPUQuotaPerSecUSec, MemoryHigh, TasksMax, CPUWeight
                              (each must be of type 't') on the unit object's type
                              interface (org.freedesktop.systemd1.Service, .Slice, ...);
                              NoSuchUnit for a unit that is not loaded; any other
                              property is PropertyReadOnly, as systemd answers
  unit objects at /org/freedesktop/systemd1/unit/<escaped name> (app.service,
    slow.service, db.slice by default; parameter {"units": [...]}) with Id and LoadState
    on org.freedesktop.systemd1.Unit and, on the type interface, CPUQuotaPerSecUSec and
    MemoryHigh = UINT64_MAX (infinity), TasksMax = 4915, CPUWeight = 100.
  On org.freedesktop.DBus.Mock, for the test:
    SetHang(method s, seconds d)       LoadUnit or SetUnitProperties answers (and acts)
                                       only after that long; 0 switches it off
    SetError(method s, name s, msg s)  the method fails with that D-Bus error ('' clears)
    RecordedCalls() -> s               JSON: every Manager call with its arguments, each
                                       variant as [signature, value]
    ClearRecordedCalls()
    UnitProperties(unit s) -> s        JSON: the unit's resource-control properties

As a script (/usr/bin/python3 systemd_mock.py COMMAND ...), on DBUS_SYSTEM_BUS_ADDRESS
(or DBUS_SESSION_BUS_ADDRESS with --session first):
  ping | calls | clear | props UNIT | hang METHOD SECONDS | error METHOD NAME MESSAGE
prints the answer (JSON where there is one) and exits 0, or 1 with the error.
'''

import json
import sys

import dbus
import dbus.service

BUS_NAME = 'org.freedesktop.systemd1'
MAIN_OBJ = '/org/freedesktop/systemd1'
MAIN_IFACE = 'org.freedesktop.systemd1.Manager'
SYSTEM_BUS = True

MOCK_IFACE = 'org.freedesktop.DBus.Mock'
UNIT_IFACE = 'org.freedesktop.systemd1.Unit'
UINT64_MAX = 2**64 - 1
TYPE_IFACES = {
    'service': 'org.freedesktop.systemd1.Service',
    'slice': 'org.freedesktop.systemd1.Slice',
    'scope': 'org.freedesktop.systemd1.Scope',
    'socket': 'org.freedesktop.systemd1.Socket',
    'mount': 'org.freedesktop.systemd1.Mount',
    'swap': 'org.freedesktop.systemd1.Swap',
}
DEFAULTS = {
    'CPUQuotaPerSecUSec': UINT64_MAX,
    'MemoryHigh': UINT64_MAX,
    'TasksMax': 4915,
    'CPUWeight': 100,
}
VALID_CHARS = set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@')
NO_SUCH_UNIT = 'org.freedesktop.systemd1.NoSuchUnit'


def _error(name, message):
    return dbus.exceptions.DBusException(message, name=name)


def unit_path(name):
    '''The object path of a unit, escaped as systemd's bus_label_escape does.'''
    out = []
    for i, ch in enumerate(name):
        if ch.isascii() and (ch.isalpha() or (i > 0 and ch.isdigit())):
            out.append(ch)
        else:
            out.append(f'_{ord(ch):02x}')
    return MAIN_OBJ + '/unit/' + (''.join(out) or '_')


def unit_type(name):
    '''The type of a valid unit name, or None.'''
    if not 1 <= len(name) <= 255 or not set(name) <= VALID_CHARS or '.' not in name:
        return None
    prefix, _, suffix = name.rpartition('.')
    if not prefix or prefix.count('@') > 1 or prefix.startswith('@') or '@' in suffix:
        return None
    return suffix


def load(mock, parameters):
    '''Called by dbusmock on the Manager object.'''
    mock.units = {}  # name -> object path
    mock.unit_ifaces = {}  # name -> type interface (None for types without resource control)
    mock.hang = {}  # method -> seconds
    mock.fail = {}  # method -> (error name, message)
    mock.recorded = []
    mock.AddProperties(MAIN_IFACE, {'Version': dbus.String('252-homeostat-mock')})
    for name in parameters.get('units', ['app.service', 'slow.service', 'db.slice']):
        add_unit(mock, str(name), 'loaded')


def add_unit(mock, name, load_state):
    from dbusmock import mockobject  # pylint: disable=import-outside-toplevel
    path = unit_path(name)
    iface = TYPE_IFACES.get(unit_type(name))
    mock.AddObject(path, UNIT_IFACE, {
        'Id': dbus.String(name),
        'Names': dbus.Array([name], signature='s'),
        'LoadState': dbus.String(load_state),
        'ActiveState': dbus.String('active' if load_state == 'loaded' else 'inactive'),
    }, [])
    if iface:
        obj = mockobject.objects[path]
        obj.AddProperties(iface, {k: dbus.UInt64(v) for k, v in DEFAULTS.items()})
    mock.units[name] = path
    mock.unit_ifaces[name] = iface
    return path


def _plain(v):
    '''A D-Bus value as plain JSON data; a variant as [signature, value].'''
    sig = {
        dbus.Boolean: 'b', dbus.Byte: 'y', dbus.Int16: 'n', dbus.UInt16: 'q', dbus.Int32: 'i',
        dbus.UInt32: 'u', dbus.Int64: 'x', dbus.UInt64: 't', dbus.Double: 'd',
        dbus.String: 's', dbus.ObjectPath: 'o',
    }.get(type(v))
    if isinstance(v, dbus.Boolean):
        plain = bool(v)
    elif isinstance(v, (dbus.Array, dbus.Struct, list, tuple)):
        plain = [_plain(x) for x in v]
    elif isinstance(v, (dbus.Dictionary, dict)):
        plain = {str(k): _plain(x) for k, x in v.items()}
    elif isinstance(v, int):
        plain = int(v)
    elif isinstance(v, float):
        plain = float(v)
    else:
        plain = str(v)
    if getattr(v, 'variant_level', 0) > 0:
        return [sig or '?', plain]
    return plain


def _run(mock, method, args, work, reply, error):
    '''Records the call, then runs work (now, or after the method's hang) and answers
    through the dbus-python callbacks.'''
    mock.recorded.append({'method': method, 'args': [_plain(a) for a in args]})

    def answer():
        try:
            if method in mock.fail:
                name, message = mock.fail[method]
                raise _error(name, message)
            reply(*work())
        except dbus.exceptions.DBusException as e:
            error(e)
        return False

    seconds = mock.hang.get(method, 0)
    if seconds > 0:
        from gi.repository import GLib  # pylint: disable=import-outside-toplevel
        GLib.timeout_add(int(seconds * 1000), answer)
    else:
        answer()


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='o',
                     async_callbacks=('_reply', '_error_cb'))
def LoadUnit(self, name, _reply, _error_cb):
    def work():
        name_s = str(name)
        if unit_type(name_s) is None:
            raise _error('org.freedesktop.DBus.Error.InvalidArgs', f'Unit name {name_s} is not valid.')
        path = self.units.get(name_s) or add_unit(self, name_s, 'not-found')
        return (dbus.ObjectPath(path),)
    _run(self, 'LoadUnit', [name], work, _reply, _error_cb)


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='o')
def GetUnit(self, name):
    path = self.units.get(str(name))
    if not path:
        raise _error(NO_SUCH_UNIT, f'Unit {name} not loaded.')
    return dbus.ObjectPath(path)


@dbus.service.method(MAIN_IFACE, in_signature='sba(sv)', out_signature='',
                     async_callbacks=('_reply', '_error_cb'))
def SetUnitProperties(self, name, runtime, properties, _reply, _error_cb):
    def work():
        from dbusmock import mockobject  # pylint: disable=import-outside-toplevel
        name_s = str(name)
        path = self.units.get(name_s)
        if not path or str(mockobject.objects[path].props[UNIT_IFACE]['LoadState']) != 'loaded':
            raise _error(NO_SUCH_UNIT, f'Unit {name_s} not found.')
        iface = self.unit_ifaces.get(name_s)
        changes = {}
        for prop, value in properties:
            prop = str(prop)
            if prop not in DEFAULTS or not iface:
                raise _error('org.freedesktop.DBus.Error.PropertyReadOnly',
                             f'Cannot set property {prop}, or unknown property.')
            if not isinstance(value, dbus.UInt64):
                raise _error('org.freedesktop.DBus.Error.InvalidArgs',
                             f'Bus message type of {prop} is not "t".')
            changes[prop] = dbus.UInt64(int(value))
        if changes:
            mockobject.objects[path].UpdateProperties(iface, changes)
        return ()
    _run(self, 'SetUnitProperties', [name, runtime, properties], work, _reply, _error_cb)


@dbus.service.method(MOCK_IFACE, in_signature='sd', out_signature='')
def SetHang(self, method, seconds):
    self.hang[str(method)] = float(seconds)


@dbus.service.method(MOCK_IFACE, in_signature='sss', out_signature='')
def SetError(self, method, name, message):
    if name:
        self.fail[str(method)] = (str(name), str(message))
    else:
        self.fail.pop(str(method), None)


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='s')
def RecordedCalls(self):
    return json.dumps(self.recorded, sort_keys=True)


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='')
def ClearRecordedCalls(self):
    self.recorded = []


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='s')
def UnitProperties(self, name):
    from dbusmock import mockobject  # pylint: disable=import-outside-toplevel
    path = self.units.get(str(name))
    iface = self.unit_ifaces.get(str(name))
    if not path or not iface:
        raise _error(NO_SUCH_UNIT, f'Unit {name} not loaded.')
    props = mockobject.objects[path].props[iface]
    return json.dumps({k: int(v) for k, v in props.items()}, sort_keys=True, separators=(',', ':'))


def _client(argv):
    import os  # pylint: disable=import-outside-toplevel
    session = bool(argv) and argv[0] == '--session'
    if session:
        argv = argv[1:]
    address = os.environ.get('DBUS_SESSION_BUS_ADDRESS' if session else 'DBUS_SYSTEM_BUS_ADDRESS')
    if not address or not argv:
        sys.stderr.write('usage: systemd_mock.py [--session] ping|calls|clear|props UNIT|'
                         'hang METHOD SECONDS|error METHOD NAME MESSAGE (with the bus address '
                         'in the environment)\n')
        return 2
    bus = dbus.bus.BusConnection(address)
    mock = dbus.Interface(bus.get_object(BUS_NAME, MAIN_OBJ), MOCK_IFACE)
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == 'ping':
            mock.RecordedCalls(timeout=5)
        elif cmd == 'calls':
            print(mock.RecordedCalls(timeout=5))
        elif cmd == 'clear':
            mock.ClearRecordedCalls(timeout=5)
        elif cmd == 'props' and len(args) == 1:
            print(mock.UnitProperties(args[0], timeout=5))
        elif cmd == 'hang' and len(args) == 2:
            mock.SetHang(args[0], float(args[1]), timeout=5)
        elif cmd == 'error' and len(args) == 3:
            mock.SetError(args[0], args[1], args[2], timeout=5)
        else:
            sys.stderr.write(f'systemd_mock.py: unknown command or arguments: {argv}\n')
            return 2
    except dbus.exceptions.DBusException as e:
        sys.stderr.write(f'systemd_mock.py: {cmd}: {e.get_dbus_name()}: {e.get_dbus_message()}\n')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(_client(sys.argv[1:]))
