package node

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Alarms (etcd's alarm store): which members raised which alarm, state-machine state in the
// member table's span (node/cluster/a/<member><type>), so every member lists the same alarms
// and a snapshot carries them. GET is answered from the local table (etcd's alarm list shows
// the member's applied state too); ACTIVATE and DEACTIVATE go through the log. A raised
// NOSPACE alarm caps the store's writes (quota.go).

func alarmKey(member uint64, typ pb.AlarmType) []byte {
	k := binary.BigEndian.AppendUint64(slices.Clone(nodeAlarmPrefix), member)
	return binary.BigEndian.AppendUint32(k, uint32(typ))
}

func compareAlarms(a, b *pb.AlarmMember) int {
	switch {
	case a.MemberID != b.MemberID:
		if a.MemberID < b.MemberID {
			return -1
		}
		return 1
	case a.Alarm != b.Alarm:
		if a.Alarm < b.Alarm {
			return -1
		}
		return 1
	}
	return 0
}

// Alarms are the raised alarms as of the applied index, sorted by member and type (copies).
func (m *Member) Alarms() []*pb.AlarmMember { return m.alarmsOf(pb.AlarmType_NONE) }

// alarmsOf lists the alarms of type typ (NONE: all), as etcd's alarm store Get.
func (m *Member) alarmsOf(typ pb.AlarmType) []*pb.AlarmMember {
	out := []*pb.AlarmMember{}
	for _, a := range m.cluster.alarms {
		if typ == pb.AlarmType_NONE || a.Alarm == typ {
			out = append(out, &pb.AlarmMember{MemberID: a.MemberID, Alarm: a.Alarm})
		}
	}
	return out
}

// alarmGet answers an alarm GET from the local table.
func (m *Member) alarmGet(req *pb.AlarmRequest) Response {
	return Response{Alarm: &pb.AlarmResponse{Header: m.header(), Alarms: m.alarmsOf(req.Alarm)}}
}

// applyAlarm applies an ACTIVATE or DEACTIVATE into b, answering as etcd's applier does: the
// alarm activated (also when it was already raised) or deactivated; none for an alarm of type
// NONE or a deactivation of an alarm that is not raised (both change nothing).
func (m *Member) applyAlarm(b *pebble.Batch, req *pb.AlarmRequest) (Response, *clusterState, error) {
	resp := Response{Alarm: &pb.AlarmResponse{Header: m.header(), Alarms: []*pb.AlarmMember{}}}
	if req.Alarm == pb.AlarmType_NONE {
		return resp, nil, nil
	}
	am := &pb.AlarmMember{MemberID: req.MemberID, Alarm: req.Alarm}
	i, raised := slices.BinarySearchFunc(m.cluster.alarms, am, compareAlarms)
	switch req.Action {
	case pb.AlarmRequest_ACTIVATE:
		resp.Alarm.Alarms = append(resp.Alarm.Alarms, am)
		if raised {
			return resp, nil, nil
		}
		next := m.cluster.clone()
		next.alarms = slices.Insert(next.alarms, i, &pb.AlarmMember{MemberID: am.MemberID, Alarm: am.Alarm})
		return resp, next, b.Set(alarmKey(am.MemberID, am.Alarm), nil, nil)
	case pb.AlarmRequest_DEACTIVATE:
		if !raised {
			return resp, nil, nil
		}
		resp.Alarm.Alarms = append(resp.Alarm.Alarms, am)
		next := m.cluster.clone()
		next.alarms = slices.Delete(next.alarms, i, i+1)
		return resp, next, b.Delete(alarmKey(am.MemberID, am.Alarm), nil)
	}
	return Response{}, nil, fmt.Errorf("%w: alarm action %v is not a write", errRequestKind, req.Action)
}
