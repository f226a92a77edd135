-- Queries of the catalog: students, offerings, rounds.

-- name: student_profile
SELECT id, cohort, degree, campus FROM students WHERE id = $1;

-- name: all_student_profiles
SELECT id, cohort, degree, campus FROM students;
