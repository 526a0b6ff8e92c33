package waitroom

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestOverdueByEachAdmissionsOwnLength: the admission time went from 2 to
// 10 minutes mid-sale. An admission is overdue past half of its own
// length: the 2-minute one given 70 s ago is, the 10-minute one given 70 s
// ago is not (by the room's new length both would be judged alike), and
// one whose start is unknown is left out.
func TestOverdueByEachAdmissionsOwnLength(t *testing.T) {
	now := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	short := Admission{UserID: uuid.New(), At: now.Add(-70 * time.Second), Until: now.Add(50 * time.Second)}
	long := Admission{UserID: uuid.New(), At: now.Add(-70 * time.Second), Until: now.Add(530 * time.Second)}
	edge := Admission{UserID: uuid.New(), At: now.Add(-60 * time.Second), Until: now.Add(60 * time.Second)}
	unknown := Admission{UserID: uuid.New(), Until: now.Add(time.Second)}
	got := overdueOf([]Admission{short, long, edge, unknown}, now)
	if len(got) != 2 || got[0] != short || got[1] != edge {
		t.Fatalf("overdue = %+v, want the 2-minute admissions past their half", got)
	}
}
